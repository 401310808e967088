"""What `verify --pacs` proposes for C-GET's C-STORE sub-operations (gateway/pacs.py
plan_contexts): every recorded (SOP class, transfer syntax) pair gets a context of its own,
every SOP class an uncompressed one, and no association more than 126 storage contexts."""

from __future__ import annotations

from pacsguard.dicom.uids import JPEG_2000, OTHER_STANDARD_SYNTAXES, RLE_LOSSLESS, UNCOMPRESSED_LE
from pacsguard.gateway.pacs import MAX_STORAGE_CONTEXTS, plan_contexts

CT, MR = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"
J2K, RLE = JPEG_2000, RLE_LOSSLESS
NATIVE = UNCOMPRESSED_LE


def test_each_recorded_syntax_has_its_own_context_and_each_class_an_uncompressed_one() -> None:
    [contexts] = plan_contexts({(CT, NATIVE[0]): 40, (MR, J2K): 3, (MR, NATIVE[1]): 1})
    proposed = [(c.sop_class, c.transfer_syntaxes) for c in contexts]
    assert proposed[:3] == [(CT, NATIVE), (MR, (J2K,)), (MR, NATIVE)]
    # then the other standard syntaxes, each class in turn, never one recorded already
    assert (CT, (RLE,)) in proposed and (MR, (RLE,)) in proposed
    assert proposed.count((MR, (J2K,))) == 1 and (CT, (J2K,)) in proposed
    assert len(proposed) == 3 + 2 * len(OTHER_STANDARD_SYNTAXES) - 1


def test_more_classes_than_one_association_holds_are_split_over_rounds() -> None:
    classes = [f"1.2.826.0.1.3680043.10.1.{i}" for i in range(100)]
    pairs = {(c, ts): 1 for c in classes for ts in (NATIVE[0], J2K)}
    rounds = plan_contexts(pairs)
    assert len(rounds) == 2
    assert all(len(r) <= MAX_STORAGE_CONTEXTS for r in rounds)
    required = {(c, (J2K,)) for c in classes} | {(c, NATIVE) for c in classes}
    proposed = {(cx.sop_class, cx.transfer_syntaxes) for r in rounds for cx in r}
    assert required <= proposed
    # a class is in one round only: its instances are retrieved once
    seen = [{cx.sop_class for cx in r} for r in rounds]
    assert not seen[0] & seen[1]
