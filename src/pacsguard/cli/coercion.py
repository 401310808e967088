"""Converting plain command-line values without importing pydantic (issue #10 §6).

Typer (0.2x) converts every parameter value through a pydantic ``TypeAdapter``; importing
pydantic and building the adapters cost about 0.08 s of each command's start, more than the
command itself on small inputs. Every pacsguard parameter is a plain ``str``, ``int``,
``float``, ``Path``, ``bool`` or a list of one of them, whose conversion is one constructor
call. :func:`install` gives each parameter of a built command a converter that does exactly
that for values that are certainly valid (digits for an int, within ``min``/``max``; a
non-empty string for a path, then Typer's own path checks) and hands everything else to
Typer's pydantic conversion, unchanged: an invalid value still gets Typer's own message, a
value out of range is still clamped or refused as Typer would.

This relies on Typer internals (``typer._coercion.RuntimeParam`` and the parameters'
``_runtime_param`` cache); where they are missing, :func:`install` does nothing and Typer
converts as usual (slower, same results). tests/test_cli_startup.py checks that the results
are Typer's own.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class _Unsure(Exception):
    """The fast path cannot be sure; Typer's conversion decides."""


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    raise _Unsure


def _float(value: Any) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, str) and _FLOAT.fullmatch(value):
        return float(value)
    raise _Unsure


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Unsure


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Unsure


def _leaf(annotation: Any, info: Any) -> Callable[[Any, Any, Any], Any] | None:
    """A converter ``(value, param, ctx) -> value`` for one plain value, or None."""
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None) is not None:
        return None
    if annotation is bool:  # a flag's value is a bool already; anything else goes to Typer
        return lambda v, _p, _c: _bool(v)
    if annotation is str:
        return lambda v, _p, _c: _str(v)
    if annotation in (int, float):
        parse = _int if annotation is int else _float
        low, high = getattr(info, "min", None), getattr(info, "max", None)

        def number(v: Any, _p: Any, _c: Any) -> Any:
            n = parse(v)
            if (low is not None and n < low) or (high is not None and n > high):
                raise _Unsure  # Typer refuses or clamps, with its own message
            return n

        return number
    if annotation is Path and getattr(info, "path_type", None) in (None, Path):
        try:
            from typer._param_types import coerce_cli_path
        except ImportError:  # another Typer
            return None

        def path(v: Any, p: Any, c: Any) -> Any:
            if isinstance(v, str) and v:
                v = Path(v)
            if not isinstance(v, Path):
                raise _Unsure
            # Typer's own checks (exists, file_okay, resolve_path...) on the Path
            return coerce_cli_path(v, info, path_type=Path, param=p, ctx=c)

        return path
    return None


def _converter(annotation: Any, info: Any) -> Callable[[Any, Any, Any], Any] | None:
    if get_origin(annotation) is list:
        (inner,) = get_args(annotation)
        leaf = _leaf(inner, info)
        if leaf is None:
            return None

        def many(v: Any, p: Any, c: Any) -> Any:
            if not isinstance(v, list | tuple):
                raise _Unsure
            return [leaf(item, p, c) for item in v]

        return many
    return _leaf(annotation, info)


@functools.cache
def _plain_param() -> type[Any] | None:
    """Typer's ``RuntimeParam`` with our converter, or None where Typer has none."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:  # another Typer: it converts as it always does
        return None

    @dataclass(frozen=True)
    class Plain(RuntimeParam):
        convert: Callable[[Any, Any, Any], Any]

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self.convert(value, param, ctx)
            except _Unsure:
                slow = build_runtime_param(param.type_descriptor)
                return slow._coerce_value(value, param=param, ctx=ctx)

    return Plain


def install(params: Iterable[Any | None]) -> None:
    """Give each plain parameter the pydantic-free converter (see the module's docstring)."""
    plain = _plain_param()
    if plain is None:
        return
    for p in params:
        if p is None:
            continue
        descriptor = getattr(p, "type_descriptor", None)
        if descriptor is None or getattr(p, "_runtime_param", "absent") is not None:
            continue
        if getattr(descriptor, "file_annotation", None) is not None:
            continue
        convert = _converter(descriptor.annotation, descriptor.parameter_info)
        if convert is None:
            continue
        try:
            p._runtime_param = plain(parameter_info=descriptor.parameter_info,
                                     annotation=descriptor.annotation, convert=convert)
        except TypeError:  # another Typer's RuntimeParam: it converts as it always does
            return


def install_tree(command: Any, ctx: Any) -> None:
    """:func:`install` on a command's parameters and its ``--help`` option (Click makes that
    on first use, from the context's help option names), and on every command below it when
    it is a group."""
    install([*command.params, command.get_help_option(ctx)])
    for sub in getattr(command, "commands", {}).values():
        install_tree(sub, ctx)
