#!/usr/bin/env python3
"""SHA-256 of every file under a folder, in one process, with read buffers of several sizes
(issue #10 §6: which read buffer ``pacsguard.files.sha256_file`` should use).

For each buffer size, ``readinto`` a reused ``bytearray`` of that size and ``hashlib.sha256``
over the filled part (what ``sha256_file`` does), over every file; the sizes take turns, each
``--repeat`` times, so a slow moment of the VM hits them alike. Printed per size: median wall
time, user and system CPU seconds, and GB/s of file data per core. Files are read once before
the clock starts (page cache warm); ``openssl dgst -sha256`` over the same files, one process,
is given for reference.

Usage:
    .venv/bin/python benchmarks/hash_bench.py /tmp/bench-cli/archive [--repeat 5]
        [--sizes 16,64,128,256,1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def hash_all(paths: list[str], size: int) -> tuple[float, float, float, int]:
    """(wall, user, system seconds, bytes) for hashing every file with a ``size`` buffer."""
    buf = bytearray(size)
    view = memoryview(buf)
    total = 0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                h.update(view[:n])
                total += n
        h.digest()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return wall, r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime, total


def openssl(paths: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(["xargs", "-0", "-n", "256", "openssl", "dgst", "-sha256"],
                   input="\0".join(paths).encode(), stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", default="16,64,128,256,1024", help="buffer sizes in KiB")
    ns = ap.parse_args()
    paths = sorted(str(p) for p in ns.folder.rglob("*") if p.is_file())
    sizes = [int(s) * 1024 for s in ns.sizes.split(",")]
    for p in paths:  # warm the page cache
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass
    runs: dict[int, list[tuple[float, float, float, int]]] = {s: [] for s in sizes}
    ssl: list[float] = []
    for _ in range(ns.repeat):
        for s in sizes:
            runs[s].append(hash_all(paths, s))
        ssl.append(openssl(paths))
    nbytes = runs[sizes[0]][0][3]
    print(f"{len(paths)} files, {nbytes / 1e9:.2f} GB; median of {ns.repeat} interleaved runs; "
          f"pid {os.getpid()}\n")
    print("| read buffer | wall | user CPU | system CPU | GB/s per core (wall) |")
    print("|---|---:|---:|---:|---:|")
    for s in sizes:
        wall = statistics.median(r[0] for r in runs[s])
        user = statistics.median(r[1] for r in runs[s])
        system = statistics.median(r[2] for r in runs[s])
        print(f"| {s // 1024} KiB | {wall:.2f} s | {user:.2f} s | {system:.2f} s | "
              f"{nbytes / 1e9 / wall:.2f} |")
    w = statistics.median(ssl)
    print(f"| `openssl dgst -sha256` (1 process) | {w:.2f} s | | | {nbytes / 1e9 / w:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
