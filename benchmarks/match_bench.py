#!/usr/bin/env python3
"""Matching benchmark (issue #3 §7): all 138 real CISA advisories against a 5,000-machine
inventory. Target: < 2 s.

The inventory is synthetic but shaped like a real one: machines of the vendors and product
lines the advisories name (with the spellings DICOM images use: "SIEMENS", "GE MEDICAL
SYSTEMS", "Philips Medical Systems"), about a third from vendors and models no advisory names,
software versions drawn from real-looking strings. The advisories are imported first (timed
separately); the timed part is what ``pacsguard alerts match`` does after its inventory sync:
read the current advisory products and the machines from the database, then match, listing
every machine of a named vendor that no product matched with the reason (``match_report``).

Usage:
    python benchmarks/match_bench.py --dir /work/bench-out/match [--machines 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine

from pacsguard.advisories.match import match_report, product_fits
from pacsguard.advisories.modalities import modality_family
from pacsguard.advisories.store import current_products, import_paths
from pacsguard.inventory.machines import list_machines
from pacsguard.store.schema import machines
from pacsguard.workspace import Workspace

HERE = Path(__file__).resolve().parent
CSAF = HERE.parent / "tests" / "data" / "csaf" / "cisa-icsma"
SPELLINGS = {"Philips": ["Philips", "Philips Medical Systems", "Philips Healthcare"],
             "GE Healthcare": ["GE MEDICAL SYSTEMS", "GE Healthcare", "GE Medical Systems"],
             "Siemens": ["SIEMENS", "Siemens Healthineers"]}
OTHERS = [("Canon Medical Systems", "Aquilion ONE"), ("FUJIFILM Corporation", "FDR D-EVO II"),
          ("Hologic, Inc.", "Selenia Dimensions"), ("Agfa", "DX-D 600"),
          ("Carestream Health", "DRX-Evolution"), ("Samsung Medison", "HS70A"),
          ("Esaote", "MyLab Omega"), ("Shimadzu", "RADspeed Pro")]
VERSIONS = ["1.0", "2.3.0", "3.1.2", "4.0.1", "5.0.2", "7.2.8.810", "11.2", "12.1.6.1000",
            "12.2.8.410", "12.3.0.2000", "VA20A", "VA30B", "VB11D", "VE10B", "R4.1L1", "2.0",
            "2023.3_Build_9342", "V3.0.1", "1.003", "gmp_vct.43"]


def build_inventory(engine: Engine, n: int, seed: int) -> None:
    rng = random.Random(seed)
    named = sorted({(p.vendor_raw.strip(), p.product) for p in current_products(engine)})
    rows = []
    for i in range(n):
        if rng.random() < 0.66:
            vendor, product = rng.choice(named)
            manufacturer = rng.choice(SPELLINGS.get(vendor, [vendor]))
            model = product
        else:
            manufacturer, model = rng.choice(OTHERS)
        sv = rng.choice(VERSIONS)
        rows.append({"machine_key": f"bench-{i:06d}", "vendor": manufacturer,
                     "manufacturer": manufacturer, "model": model, "serial_number": f"SN{i:06d}",
                     "station_name": f"ST{i % 300:03d}", "institution": "Bench Hospital",
                     "modalities": "CT", "software_versions": sv,
                     "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-11-27T00:00:00Z",
                     "image_count": rng.randint(1, 100000), "source": "passive"})
    with engine.begin() as conn:
        conn.execute(machines.insert(), rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path("/work/bench-out/match"))
    ap.add_argument("--machines", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.dir.exists():
        shutil.rmtree(args.dir)
    ws = Workspace(args.dir)
    ws.init(origin="bench.pacsguard.local/ledger")
    ledger, _, _ = ws.open_ledger()
    engine = ledger.engine
    t = time.perf_counter()
    imported = list(import_paths(engine, [CSAF]))
    import_s = time.perf_counter() - t
    build_inventory(engine, args.machines, args.seed)
    times, counts = [], Counter[str]()
    for _ in range(args.repeat):
        product_fits.cache_clear()  # every run starts cold, as a fresh command does
        modality_family.cache_clear()
        t = time.perf_counter()
        report = match_report(current_products(engine), list_machines(engine))
        times.append(time.perf_counter() - t)
        counts = Counter(m.status.value for m in report.matches)
        counts["not matched"] = len(report.considered)
    res = {"advisories": len(imported), "machines": args.machines, "import_s": import_s,
           "match_s_median": statistics.median(times), "match_s_all": times,
           "results": dict(counts), "python": sys.version.split()[0]}
    print(json.dumps(res, indent=2))
    print(f"\n| match {len(imported)} advisories x {args.machines:,} machines | "
          f"{statistics.median(times):.2f} s (median of {args.repeat}) | < 2 s | "
          f"{'pass' if statistics.median(times) < 2 else 'FAIL'} |")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
