#!/usr/bin/env python3
"""How long the command line takes to start (issue #10 §6).

Each command is a fresh subprocess timed from start to exit, repeated ``--repeat`` times; the
runs of every command (and of every code tree given with ``--src``) are interleaved, so a slow
moment of the VM hits them all alike. Printed: the median and the fastest wall time, the median
CPU time (user + system, the process and its children), and the median minus the bare
interpreter's median (``python -c pass`` with the same interpreter):

- ``python -c pass``: the interpreter alone (the floor);
- ``pacsguard --help``;
- ``pacsguard --version``;
- ``pacsguard verify EMPTY_DIR`` on an initialised data directory whose (empty) ledger has a
  signed checkpoint, so it ends in "ALL INTACT";
- ``pacsguard record FILE`` of one small CT image (``ctbrain1.dcm`` from the demo samples, 0.2
  MB) into a fresh copy of an initialised data directory (copied before the clock starts).

``--src DIR`` (repeatable) measures the code of another tree (``DIR/src`` put first on
``PYTHONPATH``, same interpreter and packages), e.g. the code before a change, exported with
``git archive COMMIT src | tar -x -C /tmp/before``. Without it, this repository's code.

Usage:
    .venv/bin/python benchmarks/startup_bench.py [--repeat 15] [--src /tmp/before --src .]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import src_digest

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
SCRIPT = Path(sys.executable).parent / "pacsguard"
SAMPLE = REPO / "src" / "pacsguard" / "demo" / "samples" / "deid-data" / "ctbrain1.dcm"


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    failed: str = ""


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds of the process tree, exit status, stderr's last line)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    words = [ln.strip("│╭╮╰╯─ ") for ln in err.splitlines()]
    said = [w for w in words if any(c.isalnum() for c in w)]  # not a box's border
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode, said[-1] if said else ""


def _env(src: Path | None) -> dict[str, str]:
    env = dict(os.environ, COLUMNS="80")
    env.pop("PACSGUARD_HOME", None)
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    return env


def _pacsguard(args: list[str]) -> list[str]:
    return [sys.executable, str(SCRIPT), *args]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--src", type=Path, action="append",
                    help="a code tree to measure (its src/ first on PYTHONPATH); repeatable")
    ns = ap.parse_args()
    trees: list[Path | None] = [p.resolve() for p in ns.src] if ns.src else [None]
    work = Path(tempfile.mkdtemp(prefix="pacsguard-startup-"))
    try:
        return _bench(trees, ns.repeat, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench(trees: list[Path | None], repeat: int, work: Path) -> int:
    empty = work / "empty"
    empty.mkdir()
    labels = [str(t) if t is not None else "this repository" for t in trees]
    homes: list[Path] = []
    for i, tree in enumerate(trees):
        env = _env(tree)
        home = work / f"home-{i}"
        for args in (["init", "--data-dir", str(home)],
                     ["ledger", "checkpoint", "--data-dir", str(home)]):
            done = subprocess.run(_pacsguard(args), env=env, capture_output=True, text=True)
            if done.returncode:
                sys.exit(f"{labels[i]}: pacsguard {' '.join(args)} failed: {done.stderr}")
        homes.append(home)

    def commands(i: int) -> dict[str, list[str]]:
        return {
            "python -c pass": [sys.executable, "-c", "pass"],
            "pacsguard --help": _pacsguard(["--help"]),
            "pacsguard --version": _pacsguard(["--version"]),
            "pacsguard verify EMPTY_DIR": _pacsguard(["verify", "--data-dir", str(homes[i]),
                                                      str(empty)]),
            "pacsguard record FILE": _pacsguard(["record", "--data-dir",
                                                 str(work / f"rec-{i}"), str(SAMPLE)]),
        }

    names = list(commands(0))
    results = {(i, n): Timings() for i in range(len(trees)) for n in names}
    for rep in range(repeat + 1):  # the first round is a warm-up (bytecode caches), untimed
        for n in names:
            for i, tree in enumerate(trees):
                t = results[(i, n)]
                if t.failed:
                    continue
                if n == "pacsguard record FILE":
                    shutil.rmtree(work / f"rec-{i}", ignore_errors=True)
                    shutil.copytree(homes[i], work / f"rec-{i}")
                wall, cpu, rc, last = _run(commands(i)[n], _env(tree))
                if rc != 0:
                    t.failed = f"exit {rc}: {last[:60]}"
                    continue
                if rep == 0:
                    continue
                t.wall.append(wall)
                t.cpu.append(cpu)

    print(f"# pacsguard start-up, median of {repeat} runs (interleaved)\n")
    print(f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"this repository's src sha256 {src_digest()}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n")
    for i, label in enumerate(labels):
        floor = statistics.median(results[(i, "python -c pass")].wall)
        print(f"## {label}\n")
        print("| command | median wall | fastest | minus `python -c pass` | median CPU |")
        print("|---|---:|---:|---:|---:|")
        for n in names:
            t = results[(i, n)]
            if t.failed:
                print(f"| `{n}` | failed: {t.failed} | | | |")
                continue
            med = statistics.median(t.wall)
            print(f"| `{n}` | {med:.3f} s | {min(t.wall):.3f} s | {med - floor:.3f} s | "
                  f"{statistics.median(t.cpu):.3f} s |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
