#!/usr/bin/env python3
"""``pacsguard scan`` throughput against a plain ``pydicom.dcmread`` loop (issue #5 §3).

In one run, on one machine, over the same files:

1. ``pydicom.dcmread(path)`` for every file, in one process (the issue's baseline);
2. :func:`pacsguard.scan.scan_file` for every file, in one process (the per-core figure);
3. :func:`pacsguard.scan.scan_paths` over the folder with one worker per core, folder walk
   included: what ``pacsguard scan`` does before printing (as ``run_bench.py`` compares
   ``pacsguard record``, which uses every core, with the one-process ``dcmread`` loop).

Two sets of files: small generated ones (``--generate N``: CT 64x64 16-bit images with a
sequence and vendor-style private elements; every fourth one Implicit VR Little Endian,
written once into ``--work``) and real modality files (``--real DIR``, every ``*.dcm`` below
it; default /work/shared/data/dicom when present). Every file is read twice first so all of
them are in the page cache: the figures are warm-cache figures. The loops alternate,
``--repeat`` times each; files/s are medians, and each ratio is the median of per-run ratios
(each scan run against the dcmread run just before it), so load from other processes and
changes of CPU speed hit both sides alike. The target is a ratio (scan files/s / dcmread
files/s) of at least 10 on small files.

Usage:
    python benchmarks/scan_bench.py [--generate 2000] [--real DIR] [--work DIR]
           [--repeat 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from _common import src_digest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

from pacsguard.demo.scenario import PATIENTS, _ct_slice
from pacsguard.files import default_workers
from pacsguard.scan import scan_file, scan_paths

DEFAULT_REAL = Path("/work/shared/data/dicom")


def generate(folder: Path, n: int, seed: int = 2026) -> list[Path]:
    """``n`` small CT images (about 9 kB each), written once; reused when already there."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("IM*.dcm"))
    if len(existing) == n:
        return existing
    for p in existing:
        p.unlink()
    rng = np.random.default_rng(seed)
    study, series = generate_uid(), generate_uid()
    out = []
    for i in range(n):
        ds = _ct_slice(PATIENTS[i % len(PATIENTS)], study, series, i, rng)
        ref = Dataset()
        ref.ReferencedSOPClassUID = ds.SOPClassUID
        ref.ReferencedSOPInstanceUID = generate_uid()
        ds.ReferencedImageSequence = Sequence([ref])
        ds.add_new(0x00090010, "LO", "GEMS_IDEN_01")
        ds.add_new(0x00091001, "LO", "CT_LIGHTSPEED")
        ds.add_new(0x00091002, "SH", "CT01")
        ds.add_new(0x00431028, "OB", rng.integers(0, 255, 64, dtype=np.uint8).tobytes())
        if i % 4 == 3:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        path = folder / f"IM{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(path)
    return out


def warm(files: list[Path]) -> int:
    total = 0
    for _ in range(2):
        total = 0
        for p in files:
            total += len(p.read_bytes())
    return total


def timed(fn: Callable[[Path], Any], files: list[Path]) -> float:
    start = time.perf_counter()
    for p in files:
        fn(p)
    return time.perf_counter() - start


def compare(label: str, files: list[Path], repeat: int, root: Path | None) -> dict[str, Any]:
    size = warm(files)
    findings = sum(1 for p in files if not scan_file(p).clean)
    workers = default_workers()
    runs: dict[str, list[float]] = {"dcmread": [], "scan_file": [], "scan_paths": []}
    for _ in range(repeat):  # alternate, so load from other processes hits all alike
        runs["dcmread"].append(timed(pydicom.dcmread, files))
        runs["scan_file"].append(timed(scan_file, files))
        if root is not None:
            start = time.perf_counter()
            n = sum(1 for _ in scan_paths([root], workers=workers))
            runs["scan_paths"].append(time.perf_counter() - start)
            assert n == len(files), (n, len(files))
    row: dict[str, Any] = {"set": label, "files": len(files), "bytes": size,
                           "files_with_findings": findings, "workers": workers, "runs_s": runs}
    print(f"{label}: {len(files)} files, {size / 1e6:.1f} MB; median of {repeat} runs "
          "(ratio: median of the per-run ratios, each against the dcmread loop of that run)")
    for name, what in (("dcmread", "pydicom.dcmread loop"), ("scan_file", "scan_file loop"),
                       ("scan_paths", f"scan_paths, {workers} workers")):
        if not runs[name]:
            continue
        med = statistics.median(runs[name])
        ratio = statistics.median(d / t for d, t in zip(runs["dcmread"], runs[name],
                                                         strict=True))
        row[name] = {"files_per_s": len(files) / med, "us_per_file": med / len(files) * 1e6,
                     "mb_per_s": size / 1e6 / med, "ratio": ratio}
        print(f"  {what:28s} {len(files) / med:>9,.0f} files/s {med / len(files) * 1e6:>7,.1f}"
              f" µs/file {size / 1e6 / med:>8,.1f} MB/s   ratio {ratio:5.1f}x")
    print(f"  files with findings: {findings}")
    return row


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generate", type=int, default=2000, help="small files to generate")
    ap.add_argument("--real", type=Path, default=None, help="folder of real DICOM files")
    ap.add_argument("--work", type=Path, default=None, help="where generated files go")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    print(f"machine: {_cpu()}, nproc {os.cpu_count()}, Python {platform.python_version()}, "
          f"pydicom {pydicom.__version__}, src {src_digest()}")
    rows = []
    work = args.work or Path(tempfile.gettempdir()) / "pacsguard-scan-bench"
    if args.generate:
        rows.append(compare("generated small CT", generate(work / "small", args.generate),
                            args.repeat, work / "small"))
    real = args.real or (DEFAULT_REAL if DEFAULT_REAL.is_dir() else None)
    if real is not None:
        files = sorted(real.rglob("*.dcm"))
        if files:
            # the folder also holds licences and a manifest: scan_paths would count them
            rows.append(compare(f"real files under {real}", files, max(args.repeat, 5), None))
    if args.json is not None:
        args.json.write_text(json.dumps({"cpu": _cpu(), "nproc": os.cpu_count(),
                                         "python": platform.python_version(),
                                         "src": src_digest(), "sets": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
