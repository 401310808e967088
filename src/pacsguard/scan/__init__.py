"""Scanner for weaponised DICOM files (issue #5 §3): ``pacsguard scan`` and the gateway.

The library API is pure: :func:`scan_bytes` works on bytes in memory (the gateway, on
receipt), :func:`scan_file` on a path; both return a frozen :class:`ScanResult` whose
findings use :mod:`pacsguard.findings`. :func:`disarm_bytes` and :func:`disarm_file` write
a neutralised copy, never touching the original. docs/scan.md describes every finding id.
"""

from __future__ import annotations

from pacsguard.scan.api import Skipped, Unreadable, scan_bytes, scan_file, scan_paths
from pacsguard.scan.disarm import Disarmed, DisarmRecord, disarm_bytes, disarm_file
from pacsguard.scan.model import DEFAULT_LIMITS, Limits, Removal, ScanResult
from pacsguard.scan.rules import RULES, Rule, RuleId

__all__ = ["DEFAULT_LIMITS", "RULES", "DisarmRecord", "Disarmed", "Limits", "Removal", "Rule",
           "RuleId", "ScanResult", "Skipped", "Unreadable", "disarm_bytes", "disarm_file",
           "scan_bytes", "scan_file", "scan_paths"]
