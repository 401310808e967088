"""The spool's byte count: exact under concurrent removal, and a failed commit leaves nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pacsguard.gateway.spool import Spool


def test_concurrent_removal_of_the_links_gives_every_byte_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10_000_000, 0, ["a", "b"])
    for i in range(300):
        data = bytes([i % 251]) * (1000 + i)
        assert spool.reserve(len(data)) is None
        spool.commit(spool.write_tmp(data), f"{i:05d}.dcm")
        spool.settle(len(data))
    assert spool.used == sum(1000 + i for i in range(300)) == spool.recount()

    def drain(name: str) -> None:
        for p in sorted(spool.out(name).iterdir()):
            spool.remove(p)

    threads = [threading.Thread(target=drain, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert spool.used == 0 == spool.recount()


def test_a_commit_that_fails_part_way_removes_what_it_placed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", None, 0, ["a", "b"])
    spool.out("b").rmdir()
    spool.out("b").write_text("not a folder")  # linking into it fails
    data = b"x" * 5000
    assert spool.reserve(len(data)) is None
    tmp = spool.write_tmp(data)
    with pytest.raises(OSError):
        spool.commit(tmp, "one.dcm")
    assert not list(spool.out("a").iterdir())
    assert tmp.exists()  # the caller removes it and gives the reservation back


def test_a_full_spool_is_counted_again_before_refusing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10_000, 0, ["a"])
    assert spool.reserve(6000) is None
    spool.commit(spool.write_tmp(b"y" * 6000), "big.dcm")
    spool.settle(6000)
    assert spool.reserve(6000) is not None  # really full
    (spool.out("a") / "big.dcm").unlink()  # an operator removes it by hand
    assert spool.reserve(6000) is None  # the recount sees the space


def test_a_recount_while_stores_write_keeps_their_reservations(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10_000, 0, ["a"])
    assert spool.reserve(6000) is None  # a store is writing
    spool.recount()  # another store's refusal path counts the disk meanwhile
    assert spool.reserve(6000) is not None  # the first store's 6,000 bytes still count
    spool.release(6000)  # the first store failed
    assert spool.reserve(6000) is None and spool.pending == 6000 and spool.used == 0
