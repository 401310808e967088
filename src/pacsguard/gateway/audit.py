"""The gateway's audit log: append-only JSON lines, one per event (docs/gateway.md "Audit log").

Who called, from where, when, how many stored or failed, of which SOP classes; every event
about one instance names its SOP Instance UID. Never patient data. The receiver, the
forwarder processes and the supervisor (:mod:`pacsguard.app.gateway`) append to the same
file; each line is written with one ``write`` on an ``O_APPEND`` descriptor and fsynced.
"""

from __future__ import annotations

import json
import os
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

from pacsguard.dates import utc_now


class AuditEvent(StrEnum):
    """The ``event`` of an audit line: the closed set the gateway writes (docs/gateway.md)."""

    GATEWAY_STARTED = "gateway_started"
    GATEWAY_STOPPED = "gateway_stopped"
    ASSOCIATION_ACCEPTED = "association_accepted"
    ASSOCIATION_REJECTED = "association_rejected"
    ASSOCIATION_CLOSED = "association_closed"
    ASSOCIATION_ERROR = "association_error"  # never expected: the upper layer failed
    CONNECTION_FAILED = "connection_failed"  # closed before any association request
    STORE_REFUSED = "store_refused"  # spool full, or larger than max_instance_bytes
    STORE_FAILED = "store_failed"  # not DICOM, invalid UIDs, a failure on the way
    STORE_REJECTED = "store_rejected"  # the scan found it weaponised (on_threat = reject)
    QUARANTINED = "quarantined"  # the same, on_threat = quarantine
    CHANGED_INSTANCE = "changed_instance"  # other content under a recorded SOP Instance UID
    SPOOL_RECOVERED = "spool_recovered"
    FORWARD_FAILED = "forward_failed"
    DEAD_LETTER = "dead_letter"
    # housekeeping steps of the supervisor that failed (a failure is audited, never a stop)
    CHECKPOINT_FAILED = "checkpoint_failed"
    RECEIPTS_FAILED = "receipts_failed"
    STOP_FAILED = "stop_failed"


class AuditLog:
    """Append-only JSON lines, one per event, flushed and fsynced as written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._lock = threading.Lock()

    def write(self, event: AuditEvent, **fields: Any) -> None:
        line = json.dumps({"at": utc_now(), "event": str(event), **fields}, sort_keys=True,
                          ensure_ascii=False) + "\n"
        with self._lock:
            if self._fd is None:  # closed: a late thread must not write into a reused fd
                return
            os.write(self._fd, line.encode())
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
