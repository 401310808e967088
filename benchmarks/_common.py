"""Shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def src_digest() -> str:
    """SHA-256 (12 hex) over src/pacsguard/**/*.py: which code was measured (src changes often)."""
    root = Path(__file__).resolve().parents[1] / "src" / "pacsguard"
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:12]
