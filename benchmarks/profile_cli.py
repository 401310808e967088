#!/usr/bin/env python3
"""Run one pacsguard command in this process under cProfile and print where the time goes.

Use ``--workers 1`` on record/verify so the per-file work runs in this process (with several
workers cProfile sees only the parent waiting on the pool). Example:

    PACSGUARD_HOME=/work/bench-out/prof-home python benchmarks/profile_cli.py \\
        --out /work/bench-out/record.prof -- \\
        record /work/bench-out/archive --workers 1 --format json

Prints the top functions by own time and by cumulative time, plus the wall time of the
import of ``pacsguard.cli.main`` and of the command.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/work/bench-out/cli.prof"))
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("args", nargs=argparse.REMAINDER)
    ns = ap.parse_args()
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    t0 = time.perf_counter()
    from pacsguard.cli.main import app

    t_import = time.perf_counter() - t0
    prof = cProfile.Profile()
    t1 = time.perf_counter()
    prof.enable()
    try:
        app(args, standalone_mode=False)
    except SystemExit:
        pass
    finally:
        prof.disable()
    t_cmd = time.perf_counter() - t1
    prof.dump_stats(ns.out)
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    total = st.total_tt  # type: ignore[attr-defined]
    buf.write(f"import pacsguard.cli.main: {t_import:.2f} s; command (profiled): {t_cmd:.2f} s; "
              f"profiled total {total:.2f} s\n")
    st.sort_stats("tottime").print_stats(ns.top)
    st.sort_stats("cumulative").print_stats(ns.top)
    print(buf.getvalue(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
