"""The walker's fast paths for little-endian files held in memory (Explicit VR, Deflated,
Implicit VR) must give exactly what the general walk gives (same digests, same kept values,
same failures), on real files and on random mutations of them (issue #10 §9)."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacsguard.dicom import walker
from pacsguard.errors import DicomReadError
from pacsguard.integrity.fingerprint import _CLINICAL
from pacsguard.integrity.profile import DEFAULT_PROFILE
from tests.fleet import SAMPLES

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
_SYNTAXES = (b"1.2.840.10008.1.2.1\x00", b"1.2.840.10008.1.2\x00", b"1.2.840.10008.1.2.1.99")
FILES = [p for p in [*SAMPLES.rglob("*.dcm"), *PYDICOM_FILES.glob("*.dcm")]
         if any(ts in p.read_bytes()[:1024] for ts in _SYNTAXES)]


def _walk(data: bytes, fast: bool) -> walker.WalkResult | str:
    explicit, implicit = walker._Walker.top_explicit_le, walker._Walker.top_implicit_le
    try:
        if not fast:
            walker._Walker.top_explicit_le = (  # type: ignore[method-assign]
                lambda self: self.dataset(True, True, None, 0, top=True))
            walker._Walker.top_implicit_le = (  # type: ignore[method-assign]
                lambda self: self.dataset(False, True, None, 0, top=True))
        return walker.walk(io.BytesIO(data), "f", DEFAULT_PROFILE.tags, _CLINICAL)
    except DicomReadError as exc:
        return str(exc)
    finally:
        walker._Walker.top_explicit_le = explicit  # type: ignore[method-assign]
        walker._Walker.top_implicit_le = implicit  # type: ignore[method-assign]


def test_the_corpus_has_files_of_each_little_endian_syntax() -> None:
    for ts in _SYNTAXES:
        assert sum(ts in p.read_bytes()[:1024] for p in FILES) >= 1, ts
    assert len(FILES) >= 25


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_fast_path_gives_what_the_general_walk_gives_on_real_files(path: Path) -> None:
    data = path.read_bytes()
    assert _walk(data, fast=True) == _walk(data, fast=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FILES), st.integers(132, 4000), st.binary(min_size=1, max_size=12),
       st.booleans())
def test_fast_path_gives_what_the_general_walk_gives_on_mutated_files(
    path: Path, at: int, patch: bytes, truncate: bool,
) -> None:
    data = path.read_bytes()
    at = min(at, len(data))
    mutated = data[:at] if truncate else data[:at] + patch + data[at + len(patch):]
    assert _walk(mutated, fast=True) == _walk(mutated, fast=False)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([1, 2]), st.integers(1, 16), st.booleans(),
       st.binary(min_size=0, max_size=64))
def test_the_byte_check_for_canonical_samples_agrees_with_numpy(
    width: int, bits_stored: int, signed: bool, raw: bytes,
) -> None:
    from pacsguard.dicom.pixels import Canonicalizer, Layout

    bits_stored = min(bits_stored, width * 8)
    raw = raw[: len(raw) - len(raw) % width]
    layout = Layout(1, max(1, len(raw) // width), 1, 1, width, bits_stored, signed, 0, False)
    canon = Canonicalizer(layout, len(raw), 0)
    by_bytes = canon._canonical_bytes(memoryview(raw))
    if by_bytes is not None:
        assert by_bytes == canon._is_canonical(canon._samples(memoryview(raw)))
