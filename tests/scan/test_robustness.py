"""Hostile bytes: the scanner never raises and its work stays bounded, whatever it is given.

``scan_bytes`` documents that it raises nothing: every input becomes a result (``NOT-DICOM``,
``STRUCT-*``). Internal failures would surface as a ``STRUCT-MALFORMED`` finding whose
evidence starts with "scanner error"; these properties require that never to happen either.
"""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacsguard.scan import Limits, disarm_bytes, scan_bytes
from tests.fleet import SAMPLES
from tests.scan.polyglots import (
    JS_PDF,
    deflated_with,
    encapsulated,
    fragments,
    header,
    nested,
    zip_polyglot,
)
from tests.scan.polyglots import implicit_with as implicit

SEEDS = [
    (SAMPLES / "deid-data" / "ctbrain1.dcm").read_bytes(),  # JPEG, sequences, private tags
    (SAMPLES / "dcm4che" / "MR-JPEGLosslessSV1.dcm").read_bytes()[:20000],
    encapsulated(JS_PDF), deflated_with(b"\x7fELF\x02\x01\x01" + bytes(57)),
    implicit(b"#!/bin/sh\n"), nested(6), fragments(20), zip_polyglot(),
]
LIMITS = Limits(max_inflated=4 << 20)
SECONDS = 2.0  # per input; the largest seed scans in about a millisecond


def check(data: bytes) -> None:
    start = time.perf_counter()
    result = scan_bytes(data, "fuzz", limits=LIMITS)
    assert time.perf_counter() - start < SECONDS
    assert result.size == len(data)
    assert not any(f.evidence.startswith("scanner error") for f in result.findings), \
        result.findings
    if result.dicom:
        disarmed = disarm_bytes(data, result, limits=LIMITS)
        assert disarmed.data[:128].count(0) == 128 or disarmed.data[128:132] != b"DICM"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_scan_survives_random_bytes(data: bytes) -> None:
    check(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_scan_survives_random_data_sets_after_a_valid_header(body: bytes) -> None:
    check(header() + body)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SEEDS))),
       st.lists(st.tuples(st.integers(min_value=0), st.binary(min_size=1, max_size=8)),
                min_size=1, max_size=8),
       st.integers(min_value=0))
def test_scan_survives_mutated_real_and_hostile_files(seed: int,
                                                      edits: list[tuple[int, bytes]],
                                                      cut: int) -> None:
    data = bytearray(SEEDS[seed])
    for at, patch in edits:
        at %= len(data)
        data[at : at + len(patch)] = patch  # overwrite: lengths, tags, VRs, delimiters
    check(bytes(data[: len(data) - cut % 64]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(SEEDS))), st.integers(min_value=0),
       st.sampled_from([b"\xff\xff\xff\xff", b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0",
                        b"SQ\0\0", b"UN\0\0", b"\0\0\0\0", b"\xf0\xff\xff\xff"]))
def test_scan_survives_hostile_lengths_and_item_tags_anywhere(seed: int, at: int,
                                                              patch: bytes) -> None:
    data = bytearray(SEEDS[seed])
    at %= len(data)
    data[at : at + 4] = patch
    check(bytes(data))
