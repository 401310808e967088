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
from pathlib import Path
from typing import Any

from pacsguard.dates import utc_now


class AuditLog:
    """Append-only JSON lines, one per event, flushed and fsynced as written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"at": utc_now(), "event": event, **fields}, sort_keys=True,
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
