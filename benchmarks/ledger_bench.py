#!/usr/bin/env python3
"""Ledger benchmarks (issue #2 §6): append throughput and inclusion-proof latency.

1. Append: ``Ledger.append`` on a fresh SQLite ledger (the one ``pacsguard init`` makes: WAL,
   synchronous=FULL), ``--append-count`` realistic entries in batches of ``--append-batch``
   (1,000, as ``pacsguard record`` commits). Entries are built before the clock starts, as
   record builds them in its workers; the timed part is ``append`` only (encode, leaf and
   node hashing, the inserts, the commit). Target: >= 20,000 entries/s.
2. Build: a ledger of ``--size`` entries (default 10 million) through the same
   ``Ledger.append`` with bigger transactions (``--build-batch``) and, to save time, the
   garbage collector off during each call, then ``sign_checkpoint``.
   An existing ledger in ``--dir`` is reused and only topped up, so the build can be resumed.
3. Prove: ``Ledger.prove(sop_instance_uid)`` for ``--proofs`` random leaves (the newest entry
   for the UID, the inclusion path read from the stored nodes, and the proof verified against
   the latest signed checkpoint). Target: < 5 ms.
4. Audit: ``Ledger.audit`` against the big ledger's own latest checkpoint, ``--audits`` times:
   every entry re-hashed from its bytes (issue #10 §3), so it grows with the ledger.

Entries look like record's: 4 UIDs (random-looking, so the UID index gets random inserts as with
real archives), 5 random SHA-256 digests, equipment strings, a path and 10 keyed attribute
digests. Every number is printed, with a markdown table at the end.

Usage:
    python benchmarks/ledger_bench.py --dir /work/bench-out/ledger [--size 10000000]
    python benchmarks/ledger_bench.py --dir DIR --skip-append      # only build + prove
    python benchmarks/ledger_bench.py --dir DIR --size 0           # only the append test
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

from _common import src_digest

from pacsguard.dicom.equipment import Equipment
from pacsguard.integrity.entry import LedgerEntry
from pacsguard.integrity.fingerprint import Fingerprint
from pacsguard.integrity.ledger import Ledger, PendingEntry, pack_clinical_attrs
from pacsguard.integrity.profile import CLINICAL_TAGS, DEFAULT_PROFILE
from pacsguard.workspace import Workspace

CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
ROOT = "1.2.826.0.1.3680043.8.498."
ATTR_TAGS = sorted(CLINICAL_TAGS)[:10]


def _mix(x: int) -> int:
    """splitmix64: a cheap, deterministic, random-looking 64-bit value."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def uid_for(seed: int, i: int, kind: int = 0) -> str:
    """A deterministic, random-looking UID (<= 64 chars) for leaf ``i`` (kind 0), a study (1)
    or a series (2); unique because it ends in ``i``."""
    return f"{ROOT}{kind}{_mix(seed * 7919 + i * 3 + kind)}.{i}"


class EntryFactory:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = "2026-11-27T21:00:00Z"
        self.equipment = Equipment("GE MEDICAL SYSTEMS", "Optima CT660", ("gmp_vct.43",),
                                   "SN01234", "CT01", "Benchmark General Hospital", "CT")
        self._series = -1
        self.profile_id = DEFAULT_PROFILE.id
        self._series_uid = self._study_uid = ""

    def batch(self, start: int, n: int) -> list[PendingEntry]:
        gc.disable()  # building many small objects; the collector would double the time
        try:
            return self._batch(start, n)
        finally:
            gc.enable()

    def _batch(self, start: int, n: int) -> list[PendingEntry]:
        rnd = self.rng.randbytes(n * (5 * 32 + 10 * 8))
        out = []
        pos = 0
        for i in range(start, start + n):
            d = [rnd[pos + 32 * k : pos + 32 * (k + 1)] for k in range(5)]
            pos += 160
            packed = rnd[pos : pos + 80]
            attrs = tuple(zip(ATTR_TAGS, (packed[k : k + 8] for k in range(0, 80, 8)),
                              strict=True))
            pos += 80
            study = i // 400
            series = i // 100
            if series != self._series:
                self._series = series
                self._series_uid = uid_for(self.seed, series, 2)
                self._study_uid = uid_for(self.seed, study, 1)
            fp = Fingerprint(
                sop_class_uid=CT, sop_instance_uid=uid_for(self.seed, i),
                study_instance_uid=self._study_uid,
                series_instance_uid=self._series_uid,
                transfer_syntax=EXPLICIT, file_size=525_690 + (i % 977),
                file_sha256=d[0], pixel_sha256=d[1], decoded_pixel_sha256=d[2],
                header_sha256=d[3], clinical_sha256=d[4], header_profile=self.profile_id,
                equipment=self.equipment, clinical_attrs=attrs,
            )
            out.append(PendingEntry(
                LedgerEntry(fp, self.now),
                f"/archive/BM{study // 3:06d}/{study:07d}_CT/S{series:08d}/IM{i % 100:05d}.dcm",
                pack_clinical_attrs(attrs),
            ))
        return out


def open_ws(folder: Path, fresh: bool) -> tuple[Workspace, Ledger]:
    if fresh and folder.exists():
        shutil.rmtree(folder)
    ws = Workspace(folder)
    ws.init(origin="bench.pacsguard.local/ledger")
    ledger, _, _ = ws.open_ledger()
    return ws, ledger


def db_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("ledger.sqlite*"))


def bench_append(folder: Path, count: int, batch: int, seed: int) -> dict[str, float]:
    _, ledger = open_ws(folder, fresh=True)
    factory = EntryFactory(seed)
    times = []
    done = 0
    while done < count:
        n = min(batch, count - done)
        items = factory.batch(done, n)
        t = time.perf_counter()
        idx = ledger.append(items)
        times.append(time.perf_counter() - t)
        assert idx[0] == done, (idx[0], done)
        done += n
    total = sum(times)
    per = sorted(t / batch * 1e6 for t in times)
    res = {"entries": count, "batch": batch, "seconds": total, "entries_per_s": count / total,
           "batch_ms_median": statistics.median(times) * 1e3,
           "batch_ms_p99": sorted(times)[min(len(times) - 1, int(len(times) * 0.99))] * 1e3,
           "us_per_entry_median": statistics.median(per), "db_mb": db_bytes(folder) / 1e6}
    ledger.engine.dispose()
    return res


def build(folder: Path, size: int, batch: int, seed: int, log_every: int) -> dict[str, float]:
    ws, ledger = open_ws(folder, fresh=False)
    have = ledger.size()
    factory = EntryFactory(seed)
    t0 = time.perf_counter()
    t_append = 0.0
    last_log = have
    print(f"build: ledger at {folder} holds {have:,} entries; target {size:,}", flush=True)
    done = have
    while done < size:
        n = min(batch, size - done)
        items = factory.batch(done, n)
        t = time.perf_counter()
        gc.disable()  # build only (the append test above keeps the collector on)
        try:
            ledger.append(items)
        finally:
            gc.enable()
        t_append += time.perf_counter() - t
        done += n
        if done - last_log >= log_every or done == size:
            el = time.perf_counter() - t0
            print(f"  {done:>12,} entries  {el:8.1f} s  overall {(done - have) / el:9,.0f}/s  "
                  f"append-only {(done - have) / t_append:9,.0f}/s  db "
                  f"{db_bytes(folder) / 1e9:.2f} GB", flush=True)
            last_log = done
    t = time.perf_counter()
    note = ledger.sign_checkpoint()
    ws.save_checkpoint_copy(note)
    sign_s = time.perf_counter() - t
    added = done - have
    res = {"size": done, "added": added, "wall_s": time.perf_counter() - t0,
           "append_s": t_append, "append_per_s": added / t_append if t_append else 0.0,
           "sign_checkpoint_s": sign_s, "db_gb": db_bytes(folder) / 1e9}
    ledger.engine.dispose()
    return res


def bench_prove(folder: Path, proofs: int, seed: int) -> dict[str, float]:
    ws = Workspace(folder)
    ledger, _, _ = ws.open_ledger(read_only=True)
    size = ledger.size()
    rng = random.Random(seed + 1)
    leaves = [rng.randrange(size) for _ in range(proofs)]
    t = time.perf_counter()
    first = ledger.prove(uid_for(seed, leaves[0]))
    first_ms = (time.perf_counter() - t) * 1e3
    assert first.leaf_index == leaves[0]
    times = []
    path_len = 0
    for leaf in leaves:
        uid = uid_for(seed, leaf)
        t = time.perf_counter()
        proof = ledger.prove(uid)
        times.append((time.perf_counter() - t) * 1e3)
        assert proof.leaf_index == leaf
        path_len = max(path_len, len(proof.path))
    times.sort()
    ledger.engine.dispose()
    return {"tree_size": size, "proofs": proofs, "first_ms": first_ms,
            "median_ms": statistics.median(times),
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
            "max_ms": times[-1], "mean_ms": statistics.fmean(times), "max_path": path_len}


def bench_audit(folder: Path, audits: int) -> dict[str, float]:
    ws = Workspace(folder)
    ledger, _, _ = ws.open_ledger(read_only=True)
    note = ws.checkpoint_copy.read_text()
    times = []
    for _ in range(audits):
        t = time.perf_counter()
        ledger.audit(note)
        times.append(time.perf_counter() - t)
    size = ledger.size()
    ledger.engine.dispose()
    med = statistics.median(times)
    return {"tree_size": size, "audits": audits, "median_s": med, "min_s": min(times),
            "max_s": max(times), "entries_per_s": size / med}


def machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (OSError, ValueError):
        mem = 0
    import sqlite3

    import sqlalchemy
    return (f"{model}, {len(os.sched_getaffinity(0))} cores, {mem:.0f} GiB RAM; "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"SQLAlchemy {sqlalchemy.__version__}; src sha256 {src_digest()}; "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/work/bench-out/ledger"))
    ap.add_argument("--append-count", type=int, default=100_000)
    ap.add_argument("--append-batch", type=int, default=1000)
    ap.add_argument("--skip-append", action="store_true")
    ap.add_argument("--size", type=int, default=10_000_000,
                    help="entries in the big ledger for the proof test (0: skip)")
    ap.add_argument("--build-batch", type=int, default=20_000)
    ap.add_argument("--proofs", type=int, default=1000)
    ap.add_argument("--audits", type=int, default=3, help="ledger audits to time (0: skip)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"machine": machine(), "command": " ".join(sys.argv)}
    print(results["machine"], flush=True)
    if not args.skip_append:
        a = bench_append(args.dir / "append", args.append_count, args.append_batch, args.seed)
        results["append"] = a
        print(f"append: {a['entries']:,} entries in batches of {a['batch']:,}: "
              f"{a['seconds']:.2f} s, {a['entries_per_s']:,.0f} entries/s (batch median "
              f"{a['batch_ms_median']:.1f} ms, p99 {a['batch_ms_p99']:.1f} ms); db "
              f"{a['db_mb']:.0f} MB", flush=True)
    if args.size:
        b = build(args.dir / "big", args.size, args.build_batch, args.seed,
                  log_every=max(args.build_batch, args.size // 40))
        results["build"] = b
        print(f"build: {b['added']:,} entries added in {b['wall_s']:.0f} s (append only "
              f"{b['append_per_s']:,.0f}/s); sign_checkpoint {b['sign_checkpoint_s']:.2f} s; "
              f"db {b['db_gb']:.2f} GB", flush=True)
        p = bench_prove(args.dir / "big", args.proofs, args.seed)
        results["prove"] = p
        print(f"prove: {p['proofs']} random leaves of {p['tree_size']:,}: median "
              f"{p['median_ms']:.2f} ms, p99 {p['p99_ms']:.2f} ms, max {p['max_ms']:.2f} ms "
              f"(first call {p['first_ms']:.1f} ms, path up to {p['max_path']} hashes)",
              flush=True)
        if args.audits:
            au = bench_audit(args.dir / "big", args.audits)
            results["audit"] = au
            print(f"audit: {au['tree_size']:,} entries re-hashed: median {au['median_s']:.2f} s "
                  f"({au['entries_per_s']:,.0f} entries/s; {au['min_s']:.2f}-{au['max_s']:.2f} s "
                  f"over {au['audits']})", flush=True)
    print("\n| measurement | result | target | verdict |\n|---|---|---|---|")
    if "append" in results:
        a = results["append"]
        print(f"| ledger append, SQLite, {a['entries']:,} entries, batches of {a['batch']:,} "
              f"| {a['entries_per_s']:,.0f} entries/s | >= 20,000/s | "
              f"{'pass' if a['entries_per_s'] >= 20_000 else 'FAIL'} |")
    if "build" in results:
        b = results["build"]
        print(f"| ledger build to {b['size']:,} entries, batches of {args.build_batch:,} | "
              f"{b['append_per_s']:,.0f} entries/s, {b['db_gb']:.1f} GB | (reference) | |")
    if "prove" in results:
        p = results["prove"]
        verdict = ("pass" if p["p99_ms"] < 5 else
                   "median pass, p99 FAIL" if p["median_ms"] < 5 else "FAIL")
        print(f"| inclusion proof (`Ledger.prove`), {p['tree_size']:,}-entry ledger, "
              f"{p['proofs']} random leaves | median {p['median_ms']:.2f} ms, p99 "
              f"{p['p99_ms']:.2f} ms | < 5 ms | "
              f"{verdict} |")
    if "audit" in results:
        au = results["audit"]
        print(f"| `Ledger.audit`, {au['tree_size']:,}-entry ledger, every entry re-hashed | "
              f"median {au['median_s']:.2f} s, {au['entries_per_s']:,.0f} entries/s | "
              "(reference) | |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
