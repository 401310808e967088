"""Fixtures: the real targets of tests/assess/targets.py, started and stopped per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.assess.targets import (
    Fragile,
    Orthanc,
    dcmqrscp_peer,
    fragile_peer,
    orthanc_default_peer,
    orthanc_hardened_peer,
)


@pytest.fixture
def orthanc_default(tmp_path: Path) -> Iterator[Orthanc]:
    with orthanc_default_peer(tmp_path / "orthanc") as peer:
        yield peer


@pytest.fixture
def orthanc_hardened(tmp_path: Path) -> Iterator[Orthanc]:
    with orthanc_hardened_peer(tmp_path / "orthanc") as peer:
        yield peer


@pytest.fixture
def dcmqrscp(tmp_path: Path) -> Iterator[int]:
    with dcmqrscp_peer(tmp_path / "dcmqrscp") as port:
        yield port


@pytest.fixture
def fragile() -> Iterator[Fragile]:
    with fragile_peer() as f:
        yield f
