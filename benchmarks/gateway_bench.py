#!/usr/bin/env python3
"""Gateway benchmark (issue #4 §9), everything on 127.0.0.1 of this one machine.

Sends the same instances (default 2,000 CT slices, ~63 kB each, ~126 MB) with dcmtk's
storescu, one association, TCP_NODELAY on both ends, and measures in the same run:

1. storescu -> storescp (dcmtk's own receiver): the network baseline;
2. storescu -> Orthanc directly;
3. storescu -> gateway, no destination: the gateway's acknowledge rate (spool + fingerprint +
   ledger append before each Success);
4. storescu -> gateway -> Orthanc: acknowledge rate, and end to end until the spool has drained
   and Orthanc holds every instance.

Targets: (4) end to end >= 0.75x (2); the gateway acknowledges >= 300 instances/s.
Each case is run ``--repeat`` times (median); Orthanc and the gateway start fresh each time.

Usage:
    .venv/bin/python benchmarks/gateway_bench.py [--files 2000] [--repeat 3] [--work DIR]
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

from pacsguard.demo.scenario import PATIENTS, _ct_slice  # noqa: E402
from pacsguard.workspace import Workspace  # noqa: E402
from tests.peers import free_port, orthanc, storescp  # noqa: E402

ENV = {**os.environ, "TCP_NODELAY": "1"}


def make_files(folder: Path, n: int) -> None:
    if folder.exists() and len(list(folder.glob("*.dcm"))) == n:
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2026)
    study, series = generate_uid(), generate_uid()
    for i in range(n):
        ds = _ct_slice(PATIENTS[i % len(PATIENTS)], study, series, i, rng)
        ds.Rows = ds.Columns = 176
        ds.PixelData = rng.integers(0, 4000, size=(176, 176)).astype("<u2").tobytes()
        ds.save_as(folder / f"IM{i:05d}.dcm", enforce_file_format=True)


def send(port: int, called: str, folder: Path) -> float:
    t = time.perf_counter()
    r = subprocess.run(["storescu", "-aet", "CT01", "-aec", called, "+sd", "+r", "127.0.0.1",
                        str(port), str(folder)], env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"storescu failed: {r.stdout[-2000:]} {r.stderr[-2000:]}")
    return wall


def gateway(work: Path, dest_port: int | None) -> tuple[subprocess.Popen[bytes], int]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    Workspace(work / "home").init(origin="bench.gateway/ledger")
    port = free_port()
    dest = "" if dest_port is None else (
        f'[[destination]]\nname = "pacs"\nae_title = "ORTHANC"\nhost = "127.0.0.1"\n'
        f"port = {dest_port}\nallow_plain_tcp = true\n")
    (work / "g.toml").write_text(
        f'[gateway]\nae_title = "PACSGUARD"\nport = {port}\nspool_dir = "spool"\n'
        f'audit_log = "audit.jsonl"\ndata_dir = "home"\nallow_plain_tcp = true\n\n'
        f'[[sender]]\nae_title = "CT01"\naddresses = ["127.0.0.1"]\n\n{dest}')
    proc = subprocess.Popen([sys.executable, "-m", "pacsguard.cli.main", "gateway", "run",
                             "--config", str(work / "g.toml")], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        r = subprocess.run(["echoscu", "-aet", "CT01", "-aec", "PACSGUARD", "127.0.0.1",
                            str(port)], capture_output=True)
        if r.returncode == 0:
            return proc, port
        time.sleep(0.1)
    raise SystemExit("gateway did not start")


def stop(proc: subprocess.Popen[bytes]) -> float:
    """Stop the gateway; return its CPU seconds (user + system)."""
    t = os.times()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    t2 = os.times()
    return (t2.children_user - t.children_user) + (t2.children_system - t.children_system)


def cpu_split(work: Path, n: int) -> dict[str, float]:
    """The gateway's own CPU accounting (``cpu`` in the ``gateway_stopped`` audit event, thread
    CPU time),
    per instance in ms: receive (the association thread, less fingerprint and ledger),
    fingerprint and ledger, spool writes, forward."""
    ev = [json.loads(line) for line in (work / "audit.jsonl").read_text().splitlines()]
    cpu = next(e for e in reversed(ev) if e["event"] == "gateway_stopped")["cpu"]
    fp_ledger = cpu["fingerprint_ms"] + cpu["ledger_ms"]
    return {"receive": (cpu["association_ms"] - fp_ledger - cpu["scan_ms"]) / n,
            "scan": cpu["scan_ms"] / n,
            "fingerprint_ledger": fp_ledger / n, "fingerprint": cpu["fingerprint_ms"] / n,
            "ledger": cpu["ledger_ms"] / n, "spool": cpu["spool_ms"] / n,
            "forward": cpu["forward_ms"] / n}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/work/bench-out/gateway"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    files = args.work / "files"
    make_files(files, args.files)
    mb = sum(p.stat().st_size for p in files.iterdir()) / 1e6
    n = args.files
    res: dict[str, list[float]] = {k: [] for k in (
        "storescp", "orthanc", "gw_ack_only", "gw_ack_fwd", "gw_end_to_end",
        "gw_cpu_ms_ack_only", "gw_cpu_ms_end_to_end", "cpu_receive", "cpu_scan", "cpu_fingerprint",
        "cpu_ledger", "cpu_spool", "cpu_forward")}
    for _ in range(args.repeat):
        with storescp(args.work / "scp") as port:
            res["storescp"].append(n / send(port, "STORESCP", files))
        shutil.rmtree(args.work / "scp", ignore_errors=True)
        with orthanc(args.work / "orthanc") as pacs:
            res["orthanc"].append(n / send(pacs.port, "ORTHANC", files))
        shutil.rmtree(args.work / "orthanc", ignore_errors=True)
        proc, port = gateway(args.work / "gw", None)
        res["gw_ack_only"].append(n / send(port, "PACSGUARD", files))
        res["gw_cpu_ms_ack_only"].append(stop(proc) * 1000 / n)
        with orthanc(args.work / "orthanc") as pacs:
            proc, port = gateway(args.work / "gw", pacs.port)
            t = time.perf_counter()
            res["gw_ack_fwd"].append(n / send(port, "PACSGUARD", files))
            queue = args.work / "gw" / "spool" / "out" / "pacs"
            while any(queue.iterdir()) or pacs.count() < n:
                time.sleep(0.05)
            res["gw_end_to_end"].append(n / (time.perf_counter() - t))
            res["gw_cpu_ms_end_to_end"].append(stop(proc) * 1000 / n)
            split = cpu_split(args.work / "gw", n)
            for k in ("receive", "scan", "fingerprint", "ledger", "spool", "forward"):
                res[f"cpu_{k}"].append(split[k])
        shutil.rmtree(args.work / "orthanc", ignore_errors=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    print(json.dumps({"files": n, "mb": round(mb, 1), "median": med, "all": res}, indent=2))
    print(f"\n{n} instances, {mb:.0f} MB, one association, median of {args.repeat}:\n")
    print("| path | instances/s |\n|---|---:|")
    print(f"| storescu -> storescp | {med['storescp']:,.0f} |")
    print(f"| storescu -> Orthanc | {med['orthanc']:,.0f} |")
    print(f"| storescu -> gateway (acknowledged; no destination) | {med['gw_ack_only']:,.0f} |")
    print(f"| storescu -> gateway -> Orthanc, acknowledged | {med['gw_ack_fwd']:,.0f} |")
    print(f"| storescu -> gateway -> Orthanc, end to end (spool drained) | "
          f"{med['gw_end_to_end']:,.0f} |")
    print(f"\ngateway CPU per instance (whole process, start-up included): receive-only run "
          f"{med['gw_cpu_ms_ack_only']:.2f} ms; end-to-end run {med['gw_cpu_ms_end_to_end']:.2f}"
          " ms")
    print("gateway CPU per instance by part, end-to-end run (thread CPU time):")
    print("| part | ms |\n|---|---:|")
    for k, label in (("receive", "receive (DICOM upper layer, File Meta, queueing)"),
                     ("scan", "scan on receipt"), ("fingerprint", "fingerprint"),
                     ("ledger", "ledger append"),
                     ("spool", "spool write (I/O threads)"), ("forward", "forward")):
        print(f"| {label} | {med['cpu_' + k]:.2f} |")
    ratio = med["gw_end_to_end"] / med["orthanc"]
    print(f"end to end / direct to Orthanc: {ratio:.2f}x (target >= 0.75x); acknowledge rate "
          f"{med['gw_ack_only']:,.0f}/s (target >= 300/s)")
    if args.json:
        args.json.write_text(json.dumps({"median": med, "all": res}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
