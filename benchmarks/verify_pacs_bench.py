#!/usr/bin/env python3
"""``verify --pacs`` benchmark (issue #10 §10), everything on 127.0.0.1 of this one machine.

Loads N instances (default 2,000 CT slices of 176x176, ~63 kB each, as gateway_bench.py makes
them, in ``--series`` series of equal size over half as many studies, one patient per study)
into a fresh Orthanc *through the gateway* (storescu -> gateway -> Orthanc, TCP_NODELAY on
every end), stops the gateway, then times the whole command

    pacsguard verify --pacs pacs --config gateway.toml --format json

``--repeat`` times (median): list (C-FIND), compare with the ledger, retrieve (C-GET) and
compare every instance. The result must be every instance intact; anything else stops the
benchmark.

``--src DIR`` runs the command from another source tree (e.g. the code before a change:
``git archive HEAD src | tar -x -C /tmp/old`` then ``--src /tmp/old/src``), with the same
Orthanc, ledger and files, so before and after are measured in one run.

Target (issue #10): >= 50 instances/s for a full ``verify --pacs``.

Usage:
    .venv/bin/python benchmarks/verify_pacs_bench.py [--files 2000] [--series 20] [--repeat 3]
        [--src DIR ...] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks._common import src_digest  # noqa: E402
from pacsguard.demo.scenario import PATIENTS, _ct_slice  # noqa: E402
from pacsguard.workspace import Workspace  # noqa: E402
from tests.peers import free_port, orthanc  # noqa: E402

ENV = {**os.environ, "TCP_NODELAY": "1"}
SRC = HERE.parent / "src"


def make_files(folder: Path, n: int, series: int) -> None:
    marker = folder.parent / f"files-made-{n}-{series}"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for stale in folder.parent.glob("files-made-*"):
        stale.unlink()
    rng = np.random.default_rng(2026)
    per = max(1, n // series)
    study = series_uid = ""
    patient = PATIENTS[0]
    for i in range(n):
        if i % per == 0:
            k = i // per
            if k % 2 == 0:  # two series per study, one patient per study
                study, patient = generate_uid(), PATIENTS[(k // 2) % len(PATIENTS)]
            series_uid = generate_uid()
        ds = _ct_slice(patient, study, series_uid, i % per, rng)
        ds.Rows = ds.Columns = 176
        ds.PixelData = rng.integers(0, 4000, size=(176, 176)).astype("<u2").tobytes()
        ds.save_as(folder / f"IM{i:05d}.dcm", enforce_file_format=True)
    marker.touch()


def load(work: Path, files: Path, pacs_port: int, n: int) -> Path:
    """Send the files through a fresh gateway into Orthanc; stop the gateway once Orthanc
    holds them all. Returns the gateway configuration."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    Workspace(work / "home").init(origin="bench.verify-pacs/ledger")
    port = free_port()
    cfg = work / "g.toml"
    cfg.write_text(
        f'[gateway]\nae_title = "PACSGUARD"\nport = {port}\nspool_dir = "spool"\n'
        f'audit_log = "audit.jsonl"\ndata_dir = "home"\nallow_plain_tcp = true\n\n'
        f'[[sender]]\nae_title = "CT01"\naddresses = ["127.0.0.1"]\n\n'
        f'[[destination]]\nname = "pacs"\nae_title = "ORTHANC"\nhost = "127.0.0.1"\n'
        f"port = {pacs_port}\nallow_plain_tcp = true\n")
    proc = subprocess.Popen([sys.executable, "-m", "pacsguard.cli.main", "gateway", "run",
                             "--config", str(cfg)], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if subprocess.run(["echoscu", "-aet", "CT01", "-aec", "PACSGUARD", "127.0.0.1",
                               str(port)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        r = subprocess.run(["storescu", "-aet", "CT01", "-aec", "PACSGUARD", "+sd", "+r",
                            "127.0.0.1", str(port), str(files)], env=ENV, capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise SystemExit(f"storescu failed: {r.stdout[-2000:]} {r.stderr[-2000:]}")
        queue = work / "spool" / "out" / "pacs"
        deadline = time.monotonic() + 600
        while any(queue.iterdir()):
            if time.monotonic() > deadline:
                raise SystemExit("the gateway did not drain its spool in 10 minutes")
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    return cfg


def verify(cfg: Path, src: Path, n: int) -> float:
    """Run the whole command; its wall time. Every instance must be intact."""
    env = {**ENV, "PYTHONPATH": str(src)}
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "pacsguard.cli.main", "verify", "--pacs", "pacs",
                        "--config", str(cfg), "--format", "json"], env=env,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    statuses = [json.loads(x)["status"] for x in r.stdout.splitlines()]
    if r.returncode != 0 or statuses.count("intact") != n:
        raise SystemExit(f"verify --pacs from {src} did not find {n} intact instances "
                         f"(exit {r.returncode}): {r.stderr[-2000:]}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--src", type=Path, action="append", default=[],
                    help="another source tree to measure too (repeatable)")
    ap.add_argument("--work", type=Path, default=Path("/work/bench-out/verify-pacs"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    files = args.work / "files"
    make_files(files, args.files, args.series)
    mb = sum(p.stat().st_size for p in files.glob("*.dcm")) / 1e6
    n = args.files
    trees = [SRC, *(p.resolve() for p in args.src)]
    runs: dict[str, list[float]] = {str(t): [] for t in trees}
    shutil.rmtree(args.work / "orthanc", ignore_errors=True)
    with orthanc(args.work / "orthanc") as pacs:
        cfg = load(args.work / "gw", files, pacs.port, n)
        if pacs.count() != n:
            raise SystemExit(f"Orthanc holds {pacs.count()} instances, not {n}")
        for _ in range(args.repeat):  # interleaved: the VM's speed drifts
            for t in trees:
                runs[str(t)].append(n / verify(cfg, t, n))
    shutil.rmtree(args.work / "orthanc", ignore_errors=True)
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(json.dumps({"files": n, "series": args.series, "mb": round(mb, 1),
                      "src_digest": src_digest(), "median": med, "all": runs}, indent=2))
    print(f"\n{n} instances in {args.series} series, {mb:.0f} MB, stored in Orthanc through "
          f"the gateway; whole `verify --pacs` command, median of {args.repeat}:\n")
    print("| source tree | instances/s | runs |\n|---|---:|---|")
    for k, v in runs.items():
        print(f"| {k} | {med[k]:,.1f} | {', '.join(f'{x:,.1f}' for x in v)} |")
    print(f"\ntarget >= 50 instances/s: {'met' if med[str(SRC)] >= 50 else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"median": med, "all": runs}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
