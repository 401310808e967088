"""The quick walk for clean files (scan/quick.py) may only ever say "clean" when the full
scanner (scan/full.py) finds nothing at all: it is a shortcut, never a verdict of its
own. Checked on every attack file the tests build and on random mutations of them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pacsguard.scan.full import full_scan
from pacsguard.scan.model import DEFAULT_LIMITS, Limits
from pacsguard.scan.quick import quick_walk
from pacsguard.scan.source import Source
from tests.scan import polyglots as P

CORPUS = [P.clean_file(), P.with_private(P.ELF), P.with_private(P.SHELL),
          P.with_private(P.HTML), P.with_private(P.exe_zip()), P.with_private(P.plain_zip()),
          P.with_private(b"%PDF-1.4 x"), P.with_private(b"  hello", vr="UN"),
          P.with_private(P.ELF, ts=P.ImplicitVRLittleEndian), P.encapsulated(P.CLEAN_PDF),
          P.encapsulated(P.JS_PDF), P.encapsulated(P.CLEAN_CDA, "text/xml"),
          P.zip_polyglot(), P.nested(5), P.nested(40), P.fragments(20), P.fragments(5000),
          P.absurd_length(), P.implicit_with(P.SHELL), P.to_bytes(P.base_dataset(),
                                                                   P.pe_preamble())]
SMALL = Limits(max_depth=3, fragments_floor=5)


def _agrees(data: bytes, limits: Limits) -> None:
    if quick_walk(data, limits) is not None:
        full = full_scan(Source(data), "x", limits)
        assert full.findings == (), [f.id for f in full.findings]


def test_the_quick_walk_never_clears_an_attack_file() -> None:
    for data in CORPUS:
        for limits in (DEFAULT_LIMITS, SMALL):
            _agrees(data, limits)
    assert quick_walk(P.clean_file(), DEFAULT_LIMITS) is not None  # and it does take clean ones


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CORPUS), st.lists(st.tuples(st.integers(0, 1 << 20),
                                                   st.integers(0, 255)), max_size=6),
       st.booleans())
def test_a_mutated_file_is_cleared_by_the_quick_walk_only_if_the_full_scan_agrees(
        base: bytes, flips: list[tuple[int, int]], zero_preamble: bool) -> None:
    data = bytearray(base)
    if zero_preamble:
        data[:128] = bytes(128)
    for pos, value in flips:
        data[128 + pos % max(1, len(data) - 128)] = value
    _agrees(bytes(data), DEFAULT_LIMITS)
    _agrees(bytes(data), SMALL)
