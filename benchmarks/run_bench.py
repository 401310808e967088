#!/usr/bin/env python3
"""record / verify throughput against openssl and a plain pydicom loop (issue #2 §6).

In one run, on one machine, over the same files (an archive from ``make_archive.py``):

0. warm-up: every file is read twice, and once more before every timed run (so all of them
   are in the page cache even if the VM trims it; caches are never dropped, so every figure
   below is a warm-cache figure);
1. ``openssl dgst -sha256`` over all files (``xargs -0 -n 256 -P 1``; also ``-P 2`` for
   reference): wall time, files/s, MB/s;
2. a plain ``pydicom.dcmread(path)`` loop over all files in one process (the issue's baseline;
   a 2-process variant for reference): files/s, MB/s;
3. ``pacsguard init`` then ``pacsguard record ARCHIVE --format json`` in a fresh data folder
   (``PACSGUARD_HOME``), as a subprocess: wall time, files/s, MB/s, peak memory;
4. ``pacsguard verify ARCHIVE --format json`` of the unchanged archive, the same way.

Every measurement is repeated ``--repeat`` times (record each time into a new data folder)
and the median is reported. Peak memory of a command's process tree is sampled every 50 ms from
/proc: the largest sum of RSS over the tree, the largest sum of PSS (shared pages of forked
workers counted once), and the largest RSS of any single process.
The CPU time used by other processes during each measurement is reported too, as a check that
the machine was otherwise idle: each run waits for an idle machine first (``--wait-idle``) and
a run during which others used the CPU is repeated (``--retries``).

Ratios (targets from the issue): verify MB/s / openssl MB/s (>= 0.8), record files/s /
dcmread-loop files/s (>= 3), peak RSS < 300 MB. The figures for the pacsguard commands are
given twice: for the whole command (interpreter start and imports included) and for the time
the command reports itself (``seconds`` in record's JSON; verify has none, so wall only).

Usage:
    python benchmarks/run_bench.py /work/bench-out/archive [--work /work/bench-out/run]
           [--repeat 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import src_digest

PAGE = os.sysconf("SC_PAGE_SIZE")
HERE = Path(__file__).resolve()
VENV_BIN = Path(sys.executable).parent


# -- process-tree monitoring ------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
    except (OSError, ValueError):
        pass
    return out


def _tree(root: int) -> list[int]:
    seen = [root]
    i = 0
    while i < len(seen):
        seen.extend(_children(seen[i]))
        i += 1
    return seen


def _rss_pss(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        try:
            with open(f"/proc/{pid}/statm") as f:
                rss = pss = int(f.read().split()[1]) * PAGE
        except (OSError, ValueError):
            pass
    return rss, pss


def _cpu_busy() -> float:
    """System-wide busy CPU seconds (all cores) from /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + vals[4]  # idle + iowait
    return (sum(vals[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def wait_idle(limit: float, window: float = 1.0, threshold: float = 0.1) -> float:
    """Wait (up to ``limit`` s) until other processes use < ``threshold`` of a core."""
    t0 = time.perf_counter()
    while True:
        b = _cpu_busy()
        time.sleep(window)
        if (_cpu_busy() - b) / window < threshold or time.perf_counter() - t0 > limit:
            return time.perf_counter() - t0 - window


@dataclass
class RunResult:
    cmd: str
    rc: int
    wall: float
    stdout: str
    stderr: str
    max_rss_sum: int = 0
    max_pss_sum: int = 0
    max_rss_single: int = 0  # largest RSS of one process, sampled
    wait4_maxrss: int = 0  # wait4 ru_maxrss: may include the launcher's RSS inherited at fork
    max_procs: int = 0
    cpu_self: float = 0.0  # user+sys of the command's tree
    cpu_other: float = 0.0  # busy CPU of everything else (monitor included)
    samples: int = 0
    extra: dict[str, object] = field(default_factory=dict)


def run_monitored(argv: list[str] | str, env: dict[str, str] | None = None,
                  shell: bool = False, interval: float = 0.05) -> RunResult:
    out = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    err = tempfile.TemporaryFile()  # noqa: SIM115
    busy0 = _cpu_busy()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, shell=shell)
    state = {"rss": 0, "pss": 0, "single": 0, "procs": 0, "samples": 0}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            pids = _tree(proc.pid)
            rss = pss = 0
            for p in pids:
                r, s = _rss_pss(p)
                rss += r
                pss += s
                state["single"] = max(state["single"], r)
            state["rss"] = max(state["rss"], rss)
            state["pss"] = max(state["pss"], pss)
            state["procs"] = max(state["procs"], len(pids))
            state["samples"] += 1
            stop.wait(interval)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    busy1 = _cpu_busy()
    stop.set()
    th.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    out.close()
    err.close()
    cpu_self = ru.ru_utime + ru.ru_stime
    return RunResult(
        cmd=argv if isinstance(argv, str) else " ".join(argv), rc=proc.returncode, wall=wall,
        stdout=stdout, stderr=stderr,
        max_rss_sum=state["rss"], max_pss_sum=state["pss"], max_rss_single=state["single"],
        wait4_maxrss=ru.ru_maxrss * 1024,
        max_procs=state["procs"], cpu_self=cpu_self,
        cpu_other=max(0.0, (busy1 - busy0) - cpu_self), samples=state["samples"],
    )


# -- the dcmread baseline (runs in a child process of this script) ----------------------------
def _dcmread_chunk(paths: list[str]) -> int:
    from pydicom import dcmread

    for p in paths:
        dcmread(p)
    return len(paths)


def dcmread_worker(list_file: Path, procs: int) -> None:
    paths = list_file.read_bytes().decode().split("\0")
    paths = [p for p in paths if p]
    import pydicom  # noqa: F401  (imported before the clock starts)

    t = time.perf_counter()
    if procs <= 1:
        n = _dcmread_chunk(paths)
    else:
        import multiprocessing as mp

        chunks = [paths[i : i + 32] for i in range(0, len(paths), 32)]
        with mp.get_context("fork").Pool(procs) as pool:
            n = sum(pool.imap_unordered(_dcmread_chunk, chunks))
    dt = time.perf_counter() - t
    print(json.dumps({"files": n, "seconds": dt}))


# -- helpers -----------------------------------------------------------------------------------
def summary_json(r: RunResult) -> dict[str, object]:
    """The command's JSON summary line (verify: the last line on stdout; record: stderr)."""
    for text in (r.stderr, r.stdout):
        for key in ('{"summary"', '{"counts"'):
            at = text.rfind(key)
            if at >= 0:
                try:
                    return dict(json.loads(text[at:].replace("\n", "").strip()))
                except json.JSONDecodeError:
                    continue
    raise ValueError(f"no JSON summary in the output of {r.cmd}: {r.stderr[-500:]!r}")


def list_files(root: Path) -> list[tuple[str, int]]:
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            out.append((p, os.path.getsize(p)))
    return out


def warm_up(files: list[tuple[str, int]]) -> float:
    t = time.perf_counter()
    buf = bytearray(1 << 20)
    for p, _ in files:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
    return time.perf_counter() - t


def machine() -> dict[str, str]:
    info = {}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "CPU(s)", "Hypervisor vendor"):
                info[k.strip()] = v.strip()
    except OSError:
        pass
    info["sha_ni"] = "yes" if " sha_ni" in Path("/proc/cpuinfo").read_text() else "no"
    info["RAM"] = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB"
    info["kernel"] = platform.release()
    info["python"] = platform.python_version()
    import pydicom

    info["pydicom"] = pydicom.__version__
    info["openssl"] = subprocess.run(["openssl", "version"], capture_output=True,
                                     text=True).stdout.strip()
    try:
        from importlib.metadata import version

        info["pacsguard"] = version("pacsguard")
    except Exception:
        info["pacsguard"] = "?"
    info["loadavg before"] = Path("/proc/loadavg").read_text().split()[0]
    info["src sha256"] = src_digest()
    info["at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return info


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def median_run(runs: list[RunResult]) -> RunResult:
    return sorted(runs, key=lambda r: r.wall)[len(runs) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive", type=Path, nargs="?")
    ap.add_argument("--work", type=Path, default=Path("/work/bench-out/run"),
                    help="scratch folder for data directories and file lists")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write every measurement here")
    ap.add_argument("--wait-idle", type=float, default=120,
                    help="before each run, wait up to this many seconds for the machine to "
                    "be idle (other processes < 0.1 core for 1 s)")
    ap.add_argument("--retries", type=int, default=6,
                    help="extra runs allowed per measurement, to replace runs during which other "
                    "processes used more than 0.3 s + 10%% of the wall time in CPU")
    ap.add_argument("--pacsguard", default=str(VENV_BIN / "pacsguard"))
    ap.add_argument("--dcmread-worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--procs", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.dcmread_worker:
        dcmread_worker(args.dcmread_worker, args.procs)
        return 0
    if args.archive is None:
        ap.error("ARCHIVE is required")
    archive = args.archive.resolve()
    work = args.work.resolve()
    if work == archive or archive in work.parents:
        ap.error("--work must not be inside the archive")
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    files = list_files(archive)
    n = len(files)
    total = sum(s for _, s in files)
    list0 = work / "files.list0"
    list0.write_bytes(b"\0".join(p.encode() for p, _ in files) + b"\0")
    print(f"archive {archive}: {n} files, {total:,} bytes", flush=True)
    print("machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), flush=True)
    warm = warm_up(files)
    warm2 = warm_up(files)
    print(f"warm-up: read every file twice ({warm:.1f} s, then {warm2:.1f} s = "
          f"{total / warm2 / 1e6:,.0f} MB/s from the page cache); no cache is dropped",
          flush=True)

    results: dict[str, list[RunResult]] = {}

    def rep(name: str, fn) -> None:  # type: ignore[no-untyped-def]
        i = tries = 0
        while i < args.repeat:
            waited = wait_idle(args.wait_idle)
            if waited:
                print(f"  (waited {waited:.0f} s for other processes to finish)", flush=True)
            rewarm = warm_up(files)  # the page cache may have been trimmed since (VM reclaim)
            r = fn(i + tries)
            r.extra["rewarm_s"] = rewarm
            busy = r.cpu_other > 0.3 + 0.1 * r.wall
            print(f"  {name} #{i + 1}: {r.wall:.2f} s rc={r.rc} cpu {r.cpu_self:.1f} s, other "
                  f"cpu {r.cpu_other:.1f} s, peak rss sum {mb(r.max_rss_sum)}, pss sum "
                  f"{mb(r.max_pss_sum)}, max single {mb(r.max_rss_single)}; re-warm "
                  f"{rewarm:.2f} s"
                  + ("  [machine busy: repeated]" if busy and tries < args.retries else ""),
                  flush=True)
            if r.rc != 0:
                print(r.stdout[-2000:], r.stderr[-2000:], sep="\n", file=sys.stderr)
                raise SystemExit(f"{name} failed (rc {r.rc})")
            if busy and tries < args.retries:
                tries += 1
                continue
            results.setdefault(name, []).append(r)
            i += 1

    # 1. openssl
    for p in (1, 2):
        cmd = f"xargs -0 -n 256 -P {p} openssl dgst -sha256 < {list0} > /dev/null"
        rep(f"openssl -P{p}", lambda i, cmd=cmd: run_monitored(cmd, shell=True))
    # 2. dcmread loop
    for p in (1, 2):
        argv = [sys.executable, str(HERE), "--dcmread-worker", str(list0), "--procs", str(p)]

        def one(i: int, argv: list[str] = argv) -> RunResult:
            r = run_monitored(argv)
            if r.rc == 0:
                r.extra = json.loads(r.stdout.strip().splitlines()[-1])
            return r

        rep(f"dcmread x{p}", one)
    # 3. record
    homes = work / "homes"
    shutil.rmtree(homes, ignore_errors=True)
    init_runs: list[RunResult] = []

    def record(i: int, extra: tuple[str, ...] = ()) -> RunResult:
        home = homes / f"record{'-'.join(('', *extra))}-{i}"
        env = dict(os.environ, PACSGUARD_HOME=str(home))
        env.pop("PACSGUARD_DATABASE_URL", None)
        ir = run_monitored([args.pacsguard, "init"], env=env)
        init_runs.append(ir)
        if ir.rc != 0:
            return ir
        r = run_monitored([args.pacsguard, "record", str(archive), "--format", "json", *extra],
                          env=env)
        if r.rc == 0:
            r.extra = summary_json(r)
            r.extra["home"] = str(home)
            counts = r.extra.get("summary", r.extra.get("counts", {}))
            assert isinstance(counts, dict)
            recorded = counts.get("recorded", 0)
            if recorded != n:
                print(f"record #{i + 1}: recorded {recorded} of {n} files: {r.stdout[-1500:]}",
                      file=sys.stderr)
                r.rc = 99
        return r

    rep("record", record)
    last_home = Path(str(results["record"][-1].extra["home"]))
    # without decoding compressed images (issue #10 §1 made decoding the default)
    rep("record --no-decode", lambda i: record(i, ("--no-decode",)))

    # 4. verify
    def verify(i: int) -> RunResult:
        env = dict(os.environ, PACSGUARD_HOME=str(last_home))
        env.pop("PACSGUARD_DATABASE_URL", None)
        r = run_monitored([args.pacsguard, "verify", str(archive), "--format", "json"], env=env)
        if r.rc == 0:
            summary = summary_json(r)
            r.extra = summary
            if summary.get("summary", {}).get("intact") != n or not summary.get("ledger_trusted"):
                print(f"verify #{i + 1}: not all intact: {summary}", file=sys.stderr)
                r.rc = 99
        return r

    rep("verify", verify)

    # -- report ------------------------------------------------------------------------------
    med = {k: median_run(v) for k, v in results.items()}

    def rate(r: RunResult, seconds: float | None = None) -> tuple[float, float]:
        s = seconds if seconds is not None else r.wall
        return n / s, total / s / 1e6

    o1_fps, o1_mbs = rate(med["openssl -P1"])
    o2_fps, o2_mbs = rate(med["openssl -P2"])
    d1 = med["dcmread x1"]
    d2 = med["dcmread x2"]
    d1_fps, d1_mbs = rate(d1, float(d1.extra["seconds"]))
    d2_fps, d2_mbs = rate(d2, float(d2.extra["seconds"]))
    rec = med["record"]
    rec_fps, rec_mbs = rate(rec)
    rec_in_fps, rec_in_mbs = rate(rec, float(rec.extra["seconds"]))
    nod = med["record --no-decode"]
    nod_fps, nod_mbs = rate(nod)
    ver = med["verify"]
    ver_fps, ver_mbs = rate(ver)
    init_med = sorted(r.wall for r in init_runs)[len(init_runs) // 2]
    # startup cost of the CLI alone
    startup = [run_monitored([args.pacsguard, "--help"]).wall for _ in range(3)]
    startup_s = statistics.median(startup)

    def mem(r: RunResult) -> str:
        return (f"{mb(r.max_rss_single)} / {mb(r.max_rss_sum)} / {mb(r.max_pss_sum)}")

    def verdict(ok: bool) -> str:
        return "**pass**" if ok else "**FAIL**"

    peak = max(rec.max_pss_sum, ver.max_pss_sum, rec.max_rss_single, ver.max_rss_single)
    lines = [
        f"Archive: {n:,} files, {total / 1e9:.2f} GB ({archive}); page cache warm; median of "
        f"{args.repeat} runs.",
        "",
        "| what | wall s | files/s | MB/s | peak memory: max process / RSS sum / PSS sum "
        "| other CPU s |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for name, r, secs, fps, mbs, note in [
        ("openssl dgst -sha256, 1 process", med["openssl -P1"], med["openssl -P1"].wall,
         o1_fps, o1_mbs, ""),
        ("openssl dgst -sha256, 2 processes", med["openssl -P2"], med["openssl -P2"].wall,
         o2_fps, o2_mbs, ""),
        ("pydicom.dcmread loop, 1 process", d1, float(d1.extra["seconds"]), d1_fps, d1_mbs,
         " (loop only)"),
        ("pydicom.dcmread loop, 2 processes", d2, float(d2.extra["seconds"]), d2_fps, d2_mbs,
         " (loop only)"),
        ("pacsguard record (whole command)", rec, rec.wall, rec_fps, rec_mbs, ""),
        ("pacsguard record (its own `seconds`)", rec, float(rec.extra["seconds"]), rec_in_fps,
         rec_in_mbs, ""),
        ("pacsguard record --no-decode (whole command)", nod, nod.wall, nod_fps, nod_mbs, ""),
        ("pacsguard verify, unchanged (whole command)", ver, ver.wall, ver_fps, ver_mbs, ""),
    ]:
        lines.append(f"| {name}{note} | {secs:.2f} | {fps:,.0f} | {mbs:,.0f} | {mem(r)} | "
                     f"{r.cpu_other:.1f} |")
    lines += [
        "",
        f"`pacsguard init` {init_med:.2f} s; `pacsguard --help` (interpreter start + imports) "
        f"{startup_s:.2f} s.",
        "",
        "| target (issue #2 §6, restated by issue #10 §9) | measured | verdict |",
        "|---|---|---|",
        f"| verify MB/s >= 0.8x openssl (1 process) | {ver_mbs / o1_mbs:.2f}x "
        f"({ver_mbs:,.0f} vs {o1_mbs:,.0f} MB/s); vs 2 openssl processes "
        f"{ver_mbs / o2_mbs:.2f}x | {verdict(ver_mbs / o1_mbs >= 0.8)} |",
        f"| record MB/s >= 0.45x openssl (1 process; issue #10 §9, large files) | whole "
        f"command {rec_mbs / o1_mbs:.2f}x ({rec_mbs:,.0f} vs {o1_mbs:,.0f} MB/s); "
        f"--no-decode {nod_mbs / o1_mbs:.2f}x ({nod_mbs:,.0f} MB/s) | "
        f"{verdict(rec_mbs / o1_mbs >= 0.45)} (--no-decode: "
        f"{verdict(nod_mbs / o1_mbs >= 0.45)}) |",
        f"| record files/s >= 2x dcmread loop (1 process; issue #10 §9, small files) | whole "
        f"command {rec_fps / d1_fps:.2f}x, own seconds {rec_in_fps / d1_fps:.2f}x "
        f"({rec_fps:,.0f} / {rec_in_fps:,.0f} vs {d1_fps:,.0f} files/s); --no-decode "
        f"{nod_fps / d1_fps:.2f}x | {verdict(rec_fps / d1_fps >= 2)} |",
        f"| peak memory < 300 MB | record {mb(max(rec.max_pss_sum, rec.max_rss_single))}, "
        f"verify {mb(max(ver.max_pss_sum, ver.max_rss_single))} (PSS sum over the tree; RSS "
        f"sum {mb(rec.max_rss_sum)} / {mb(ver.max_rss_sum)}) | {verdict(peak < 300e6)} |",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        "Commands (each run as a subprocess, timed from start to exit):",
        "",
        "```",
        "xargs -0 -n 256 -P 1 openssl dgst -sha256 < files.list0 > /dev/null   # and -P 2",
        "python benchmarks/run_bench.py --dcmread-worker files.list0 --procs 1  # and 2: "
        "for p in files: pydicom.dcmread(p)",
        "PACSGUARD_HOME=NEW_DIR pacsguard init",
        f"PACSGUARD_HOME=NEW_DIR pacsguard record {archive} --format json   # and --no-decode",
        f"PACSGUARD_HOME=NEW_DIR pacsguard verify {archive} --format json",
        "```",
    ]
    report = "\n".join(lines)
    print("\n" + report)
    (work / "report.md").write_text(report + "\n")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": info, "files": n, "bytes": total, "warm_up_s": [warm, warm2],
            "startup_s": startup, "init_s": [r.wall for r in init_runs],
            "runs": {k: [{kk: vv for kk, vv in r.__dict__.items()
                          if kk not in ("stdout", "stderr")} for r in v]
                     for k, v in results.items()},
        }, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
