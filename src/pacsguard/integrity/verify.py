"""``pacsguard verify``: what is on disk against what the ledger proves (docs/verify.md).

1. Trust: re-hash every ledger entry and compare with the latest signed checkpoint (and with
   the copy of it kept outside the database). Rows that changed after signing are named.
2. Snapshot: the newest entry per SOP Instance UID goes into a scratch SQLite file in a
   temporary folder, so lookups, the missing/duplicate sweeps and the sorted report run in
   bounded memory whatever the archive size.
3. Fast pass: every file is hashed on every core; a file whose SHA-256 is a recorded one is
   ``intact``. Only the others are fingerprinted and compared (:mod:`.status`).
4. Sweeps: recorded instances under the roots that were not seen are ``missing``; one UID in
   several files with different content is ``duplicate``.

The archive is opened read-only and never written; the ledger database is opened read-only.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pacsguard.errors import DicomReadError, PacsguardError
from pacsguard.files import (
    default_workers,
    iter_file_paths,
    parallel_map,
    sha256_file,
)
from pacsguard.integrity.audit import IntegrityReport
from pacsguard.integrity.entry import LedgerEntry
from pacsguard.integrity.fingerprint import Fingerprint, fingerprint_file
from pacsguard.integrity.ledger import Ledger, StoredEntry, unpack_clinical_attrs
from pacsguard.integrity.profile import HeaderProfile
from pacsguard.integrity.status import SEVERITY, Discrepancy, Status, compare


@dataclass
class VerifyReport:
    integrity: IntegrityReport
    counts: dict[Status, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return self.integrity.ok and all(
            n == 0 for s, n in self.counts.items() if s is not Status.INTACT
        )

    @property
    def not_intact(self) -> int:
        """Instances (and ledger problems) in any status but ``intact``."""
        return sum(n for s, n in self.counts.items() if s is not Status.INTACT)


_W: dict[str, object] = {}


def _init_worker(profile: HeaderProfile, attr_key: bytes | None) -> None:
    _W["profile"] = profile
    _W["attr_key"] = attr_key


def _hash_chunk(paths: list[str]) -> list[tuple[str, int, bytes | None, str]]:
    return [sha256_file(p) for p in paths]


def _fingerprint_chunk(paths: list[str]) -> list[tuple[str, Fingerprint | None, str]]:
    profile = _W["profile"]
    attr_key = _W["attr_key"]
    assert isinstance(profile, HeaderProfile)
    assert attr_key is None or isinstance(attr_key, bytes)
    out: list[tuple[str, Fingerprint | None, str]] = []
    for p in paths:
        try:
            out.append((p, fingerprint_file(Path(p), profile, attr_key), ""))
        except DicomReadError as exc:
            out.append((p, None, str(exc)))
    return out


class _Scratch:
    """The scratch database of one verify run."""

    def __init__(self, folder: str) -> None:
        self.path = os.path.join(folder, "verify.sqlite")
        self.db = sqlite3.connect(self.path)
        self.db.executescript("""
            PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
            CREATE TABLE expected(uid TEXT PRIMARY KEY, leaf INTEGER, file_sha BLOB, path TEXT,
                                  trusted INTEGER, entry BLOB, attrs BLOB);
            CREATE INDEX ix_expected_sha ON expected(file_sha);
            CREATE TABLE seen(uid TEXT, path TEXT, file_sha BLOB, status TEXT);
            CREATE INDEX ix_seen_uid ON seen(uid);
            CREATE TABLE slow(path TEXT);
            CREATE TABLE findings(severity INTEGER, status TEXT, uid TEXT, path TEXT,
                                  detail TEXT);
        """)

    def reader(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path)

    def add_finding(self, f: Discrepancy) -> None:
        self.db.execute("INSERT INTO findings VALUES (?,?,?,?,?)",
                        (SEVERITY[f.status], f.status.value, f.sop_instance_uid, f.path,
                         f.detail))


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def verify(ledger: Ledger, profile: HeaderProfile, attr_key: bytes | None,
           roots: Sequence[Path], *, expect_all: bool = False, workers: int | None = None,
           witnessed: str | None = None, progress: Callable[[int, int], None] | None = None,
           ) -> tuple[VerifyReport, Iterator[Discrepancy]]:
    """Verify files under ``roots``. Returns the report and the findings, worst first."""
    workers = workers or default_workers()
    folder = tempfile.mkdtemp(prefix="pacsguard-verify-")
    scratch = _Scratch(folder)
    db = scratch.db

    # 1 + 2 (a thread) while 3 (the worker processes) runs: trust the ledger and snapshot it
    # into the scratch database, while the files are hashed into a second scratch file. The
    # two overlap; measured on 2 cores, this halved verify's wall time on a 5,000-file archive.
    outcome: dict[str, IntegrityReport | BaseException] = {}

    def check() -> None:
        conn = sqlite3.connect(scratch.path)
        try:
            def on_entry(stored: StoredEntry, trusted: bool) -> None:
                try:
                    uid, file_sha = stored.key_fields
                except PacsguardError:  # edited into malformed bytes (never trusted)
                    uid, file_sha = f"(leaf {stored.leaf_index})", b""
                conn.execute(
                    "INSERT OR REPLACE INTO expected VALUES (?,?,?,?,?,?,?)",
                    (uid, stored.leaf_index, file_sha, stored.path, 1 if trusted else 0,
                     stored.raw, stored.clinical_attrs),
                )

            outcome["report"] = _check_ledger(ledger, on_entry, witnessed)
            conn.commit()
        except BaseException as exc:  # re-raised in the main thread
            outcome["error"] = exc
        finally:
            conn.close()

    checker = threading.Thread(target=check, name="pacsguard-ledger-check", daemon=True)
    db.commit()
    checker.start()
    hashed_path = os.path.join(folder, "hashed.sqlite")
    hashed_db = sqlite3.connect(hashed_path)
    hashed_db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                            "CREATE TABLE hashed(path TEXT, size INTEGER, sha BLOB, error TEXT);")
    files = 0
    nbytes = 0
    batch: list[tuple[str, int, bytes | None, str]] = []
    try:
        # 64 files a task: measured 1.77 GB/s on 2 cores, against 1.47 GB/s with 16
        for item in parallel_map(_hash_chunk, iter_file_paths(roots), workers, chunk=64):
            files += 1
            nbytes += item[1]
            batch.append(item)
            if len(batch) >= 512:
                hashed_db.executemany("INSERT INTO hashed VALUES (?,?,?,?)", batch)
                batch.clear()
            if progress is not None:
                progress(1, item[1])
        hashed_db.executemany("INSERT INTO hashed VALUES (?,?,?,?)", batch)
        hashed_db.commit()
    finally:
        hashed_db.close()
        checker.join()
    error = outcome.get("error")
    if isinstance(error, BaseException):
        raise error
    integrity = outcome["report"]
    assert isinstance(integrity, IntegrityReport)
    report = VerifyReport(integrity, files=files, bytes=nbytes)
    for problem in integrity.problems:
        scratch.add_finding(Discrepancy(Status.LEDGER_TAMPERED, "", "(ledger)", problem))
    root_strs = [str(r.expanduser().resolve()) for r in roots]

    # 3: classify the fast pass in SQL: a recorded, trusted file hash is intact
    db.execute("ATTACH DATABASE ? AS h", (hashed_path,))
    db.execute("INSERT INTO seen SELECT e.uid, x.path, x.sha, 'intact' FROM h.hashed x "
               "JOIN expected e ON e.file_sha = x.sha AND e.trusted = 1 WHERE x.sha IS NOT NULL")
    db.execute("INSERT INTO slow SELECT x.path FROM h.hashed x WHERE x.sha IS NOT NULL AND "
               "NOT EXISTS (SELECT 1 FROM expected e WHERE e.file_sha = x.sha AND e.trusted = 1)")
    db.commit()
    reader = scratch.reader()  # a second connection streams rows while ``db`` writes
    reader.execute("ATTACH DATABASE ? AS h", (hashed_path,))
    for path, reason in reader.execute("SELECT path, error FROM h.hashed WHERE sha IS NULL "
                                       "ORDER BY rowid"):
        uid = _uid_for_path(db, path)
        scratch.add_finding(Discrepancy(Status.CORRUPTED, uid, path, f"{path}: {reason}"))
        db.execute("INSERT INTO seen VALUES (?,?,?,?)",
                   (uid or None, path, b"", Status.CORRUPTED.value))

    # 3b: full fingerprint of the rest
    db.commit()
    slow = (r[0] for r in reader.execute("SELECT path FROM slow ORDER BY rowid"))
    for path, fp, why in parallel_map(_fingerprint_chunk, slow, workers, chunk=4,
                                      initializer=_init_worker, initargs=(profile, attr_key)):
        if fp is None:
            uid = _uid_for_path(db, path)
            detail = why if not uid else f"{why} (recorded at this path)"
            scratch.add_finding(Discrepancy(Status.CORRUPTED, uid, path, detail))
            db.execute("INSERT INTO seen VALUES (?,?,?,?)",
                   (uid or None, path, b"", Status.CORRUPTED.value))
            continue
        uid = fp.sop_instance_uid
        row = db.execute("SELECT trusted, entry, attrs, leaf FROM expected WHERE uid = ?",
                         (uid,)).fetchone()
        if row is None:
            status, detail = Status.UNRECORDED, "not in the ledger: never recorded (injected?)"
        elif not row[0]:
            status, detail = (Status.LEDGER_TAMPERED,
                              f"its ledger entry (leaf {row[3]}) was edited after it was signed; "
                              "the recorded fingerprint cannot be trusted")
        else:
            recorded = LedgerEntry.decode(bytes(row[1])).fingerprint
            status, detail = compare(recorded, unpack_clinical_attrs(row[2]), fp, Path(path),
                                     profile)
        db.execute("INSERT INTO seen VALUES (?,?,?,?)", (uid, path, fp.file_sha256, status.value))
        if status is not Status.INTACT or detail:
            scratch.add_finding(Discrepancy(status, uid, path, detail))

    # 4: duplicates and missing
    dup_uids = [r[0] for r in db.execute(
        "SELECT uid FROM seen WHERE uid IS NOT NULL AND file_sha != x'' GROUP BY uid "
        "HAVING COUNT(DISTINCT file_sha) > 1")]
    for uid in dup_uids:
        rows = db.execute("SELECT path, status FROM seen WHERE uid = ? ORDER BY path",
                          (uid,)).fetchall()
        any_intact = any(s == Status.INTACT for _, s in rows)
        for path, st in rows:
            if any_intact and st == Status.INTACT:
                continue
            others = ", ".join(p for p, _ in rows if p != path)
            db.execute("DELETE FROM findings WHERE uid = ? AND path = ?", (uid, path))
            scratch.add_finding(Discrepancy(Status.DUPLICATE, uid, path,
                                            f"same SOP Instance UID, different content, also at "
                                            f"{others}"))
            db.execute("UPDATE seen SET status = 'duplicate' WHERE uid = ? AND path = ?",
                       (uid, path))
    db.commit()
    for uid, path, leaf in reader.execute(
        "SELECT uid, path, leaf FROM expected WHERE uid NOT IN "
        "(SELECT uid FROM seen WHERE uid IS NOT NULL) ORDER BY leaf"
    ):
        if expect_all or (path and _under(path, root_strs)):
            scratch.add_finding(Discrepancy(Status.MISSING, uid, path or "",
                                            f"recorded (leaf {leaf}) but not found under the "
                                            "given folders"))
    for status, n in db.execute("SELECT status, COUNT(*) FROM seen GROUP BY status"):
        report.counts[Status(status)] = report.counts.get(Status(status), 0) + n
    for status, n in db.execute("SELECT status, COUNT(*) FROM findings WHERE status IN "
                                "('missing', 'ledger_tampered') GROUP BY status"):
        report.counts[Status(status)] = report.counts.get(Status(status), 0) + n
    db.commit()
    reader.close()

    def findings() -> Iterator[Discrepancy]:
        try:
            for status, uid, path, detail in db.execute(
                "SELECT status, uid, path, detail FROM findings ORDER BY severity, path"
            ):
                yield Discrepancy(Status(status), uid or "", path or "", detail or "")
        finally:
            db.close()
            for name in os.listdir(folder):
                os.unlink(os.path.join(folder, name))
            os.rmdir(folder)

    return report, findings()


def _uid_for_path(db: sqlite3.Connection, path: str) -> str:
    row = db.execute("SELECT uid FROM expected WHERE path = ? LIMIT 1", (path,)).fetchone()
    return str(row[0]) if row else ""


def _check_ledger(ledger: Ledger, on_entry: Callable[[StoredEntry, bool], None],
                  witnessed: str | None) -> IntegrityReport:
    """Full re-hash against the latest checkpoint, then against the copy kept outside."""
    report = ledger.check_integrity(on_entry)
    if witnessed is not None:
        try:
            ledger.audit(witnessed)
        except PacsguardError as exc:
            report.problems.append(f"against the checkpoint copy kept outside the database: "
                                   f"{exc}")
    return report
