#!/usr/bin/env python3
"""Assessment benchmark (issue #5 §4), everything on 127.0.0.1 of this one machine.

Starts Orthanc with its default configuration (the test fixture of tests/assess/targets.py,
a fresh folder, free ports) and measures:

1. one assessment **without fuzzing**, default options (``--rate 10``, ``--timeout 3``):
   wall time, ``--repeat`` times (median, min, max). Target: < 10 s;
2. the same with ``--http`` and ``--allow-write`` (web checks, two C-STOREs, REST cleanup);
3. a fuzz campaign of ``--cases`` cases (data-set cases included) at ``--fuzz-rate``
   cases/s: the campaign's own rate in cases/s, as the report gives it.

Usage:
    .venv/bin/python benchmarks/assess_bench.py [--repeat 5] [--cases 200] [--fuzz-rate 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._common import src_digest  # noqa: E402
from pacsguard.assess.runner import assess  # noqa: E402
from tests.assess.targets import options, orthanc_default_peer  # noqa: E402


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--fuzz-rate", type=float, default=50.0)
    args = ap.parse_args()
    out: dict[str, object] = {"src": src_digest(), "nproc": os.cpu_count(), "cpu": _cpu()}
    with tempfile.TemporaryDirectory(prefix="pacsguard-assess-bench-") as tmp, \
            orthanc_default_peer(Path(tmp) / "orthanc") as peer:
        for label, extra in (("plain", {}),
                             ("http+write", {"http": peer.url, "allow_write": True})):
            times = []
            for _ in range(args.repeat):
                started = time.monotonic()
                a = assess(options(peer.port, rate=10.0, timeout=3.0, **extra))
                times.append(time.monotonic() - started)
            out[f"assess_{label}_s"] = {"median": round(statistics.median(times), 2),
                                        "min": round(min(times), 2),
                                        "max": round(max(times), 2),
                                        "findings": sorted({f.id for f in a.findings})}
            print(f"assessment ({label}), no fuzzing: median {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f}) over {args.repeat} runs",
                  flush=True)
        started = time.monotonic()
        a = assess(options(peer.port, rate=args.fuzz_rate, fuzz_cases=args.cases, seed=2026,
                           allow_write=True, http=peer.url,
                           reproducers=Path(tmp) / "reproducers"))
        total = time.monotonic() - started
        [fuzz] = [s for s in a.sections if s.family == "fuzz"]
        facts = {f.name: f.value for f in fuzz.facts}
        out["fuzz"] = {"cases": facts.get("cases"), "rate": facts.get("rate"),
                       "answers": facts.get("answers to the cases"),
                       "whole_run_s": round(total, 2),
                       "findings": sorted({f.id for f in a.findings
                                           if f.id.startswith("FUZZ")})}
        print(f"fuzz campaign: {facts.get('cases')} cases, {facts.get('rate')}; whole run "
              f"{total:.1f} s", flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
