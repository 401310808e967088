"""Reading windows of a file that may change under the scanner: a read past the end is a
:class:`ShortRead` naming the offset, and the scanner turns it into a finding, never a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pacsguard.errors import ShortRead
from pacsguard.findings import Severity
from pacsguard.scan.full import full_scan
from pacsguard.scan.model import DEFAULT_LIMITS
from pacsguard.scan.source import Source
from tests.scan.polyglots import clean_file


def _shrunk(tmp_path: Path, keep: int) -> tuple[int, bytes]:
    """A file whose first ``keep`` bytes were read, then cut to them (as by another process
    while it is scanned): an open descriptor, and the whole content it had."""
    data = clean_file()
    path = tmp_path / "IM1.dcm"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    os.truncate(path, keep)
    return fd, data


def test_a_read_past_the_end_of_a_shrunk_file_raises_short_read_naming_where_it_ended(
        tmp_path: Path) -> None:
    fd, data = _shrunk(tmp_path, 200)
    try:
        src = Source(data[:200], len(data), fd)
        with pytest.raises(ShortRead) as caught:
            src.read(150, 300)
        assert caught.value.offset == 200 and "ends at byte 200" in str(caught.value)
        with pytest.raises(ShortRead):
            src.window(250, 12)
    finally:
        os.close(fd)


def test_a_file_that_shrinks_while_it_is_scanned_is_a_length_finding(tmp_path: Path) -> None:
    fd, data = _shrunk(tmp_path, 200)
    try:
        result = full_scan(Source(data[:200], len(data), fd), "IM1.dcm", DEFAULT_LIMITS)
    finally:
        os.close(fd)
    assert [(f.id, f.severity) for f in result.findings] == [("STRUCT-LENGTH", Severity.MEDIUM)]
    assert "the file ended at byte 200 while it was read" in result.findings[0].evidence
