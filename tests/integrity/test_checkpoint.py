"""Tests for pacsguard.integrity.checkpoint (C2SP tlog-checkpoint in C2SP signed notes)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pacsguard.errors import CheckpointError, ConfigError
from pacsguard.integrity.checkpoint import (
    MAX_NOTE_BYTES,
    Checkpoint,
    Signer,
    Verifier,
    generate_key_file,
    is_valid_key_name,
    key_id,
    load_private_key,
)
from pacsguard.integrity.merkle import EMPTY_ROOT, hash_leaf

# --------------------------------------------------------------------------------------
# Known-answer vectors from golang.org/x/mod, sumdb/note/note_test.go (TestNewVerifier,
# TestNewSigner, TestSign, TestOpen), the reference implementation of the signed-note format.
# --------------------------------------------------------------------------------------

GO_VERIFIER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SIGNER_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpR"
    "Zb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_KEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox"
    "33WWd1RvMc+QQ=\n"
)
GO_NOTE = GO_TEXT + "\n" + GO_PETER_SIG

# The example of the C2SP signed-note spec ("Verifier keys" / "Example"), as pinned at
# github.com/C2SP/C2SP commit d4c16da5e7687a016619074e78dad84b2c7238cc, signed-note.md.
SPEC_VERIFIER_KEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKu"
    "wHjG1Yu72IneyaQM=\n"
)


def _go_signer() -> Signer:
    """The Go signer key: PRIVATE+KEY+<name>+<id>+base64(0x01 || 32-byte Ed25519 seed)."""
    _, _, name, id_hex, encoded = GO_SIGNER_KEY.split("+", 4)
    raw = base64.b64decode(encoded)
    assert raw[0] == 0x01
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    assert signer.key_id.hex() == id_hex
    return signer


ORIGIN = "pacsguard.example/ledger"
ROOT = hash_leaf(b"root")


@pytest.fixture
def signer() -> Signer:
    return Signer(ORIGIN, Ed25519PrivateKey.generate())


@pytest.fixture
def checkpoint() -> Checkpoint:
    return Checkpoint(ORIGIN, 12345, ROOT)


def _replace_body_line(note: str, index: int, value: str) -> str:
    body, _, sigs = note.partition("\n\n")
    lines = body.split("\n")
    lines[index] = value
    return "\n".join(lines) + "\n\n" + sigs


# --------------------------------------------------------------------------------------
# Interoperability with golang.org/x/mod/sumdb/note
# --------------------------------------------------------------------------------------


def test_verifier_key_matches_go_note_vector() -> None:
    assert _go_signer().verifier_key() == GO_VERIFIER_KEY


def test_signing_go_text_reproduces_go_signed_note_byte_for_byte() -> None:
    assert _go_signer().sign_note(GO_TEXT) == GO_NOTE


def test_go_signed_note_verifies_with_go_verifier_key() -> None:
    verifier = Verifier.from_key(GO_VERIFIER_KEY)
    assert verifier.name == "PeterNeumann"
    assert verifier.key_id.hex() == "c74f20a3"
    assert verifier.verifier_key() == GO_VERIFIER_KEY
    assert verifier.verify_note(GO_NOTE) == GO_TEXT
    assert verifier.verify_note(GO_NOTE.encode("utf-8")) == GO_TEXT


def test_spec_example_note_verifies_with_spec_verifier_key() -> None:
    verifier = Verifier.from_key(SPEC_VERIFIER_KEY)
    assert verifier.verify_note(SPEC_NOTE) == "This is an example message.\n"


def test_note_with_unknown_signatures_verifies_by_our_key() -> None:
    note = GO_TEXT + "\n" + GO_ENOCH_SIG + GO_PETER_SIG
    assert Verifier.from_key(GO_VERIFIER_KEY).verify_note(note) == GO_TEXT
    assert Verifier.from_key(GO_ENOCH_KEY).verify_note(note) == GO_TEXT


def test_note_fails_when_only_other_keys_signed_it() -> None:
    note = GO_TEXT + "\n" + GO_ENOCH_SIG
    with pytest.raises(CheckpointError, match=r"not signed by key PeterNeumann\+c74f20a3"):
        Verifier.from_key(GO_VERIFIER_KEY).verify_note(note)


def test_signature_with_our_name_but_other_key_id_is_ignored() -> None:
    # Unknown key: same name, different ID (c2sp.org/signed-note "Signatures").
    impostor = GO_PETER_SIG.replace("x08g", "xxxx")
    assert Verifier.from_key(GO_VERIFIER_KEY).verify_note(GO_TEXT + "\n" + impostor + GO_PETER_SIG)
    with pytest.raises(CheckpointError, match="not signed by key"):
        Verifier.from_key(GO_VERIFIER_KEY).verify_note(GO_TEXT + "\n" + impostor)


def test_note_fails_when_our_signature_is_corrupted() -> None:
    # TestOpen "Invalid signature" case.
    corrupted = GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:]
    with pytest.raises(CheckpointError, match="bad signature"):
        Verifier.from_key(GO_VERIFIER_KEY).verify_note(GO_TEXT + "\n" + corrupted)


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + GO_PETER_SIG,
        GO_TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2p"
        "ZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + "— PeterNeumann \n",
        GO_TEXT + "\n" + "— PeterNeumann AAAA\n",
        GO_TEXT + "\n" + "— PeterNeumann not*base64\n",
        GO_TEXT + "\n" + "- PeterNeumann " + GO_PETER_SIG[15:],
        GO_TEXT + "\n" + GO_PETER_SIG * 101,
        GO_TEXT.replace("\n", "\r\n", 1) + "\n" + GO_PETER_SIG,
    ],
)
def test_malformed_notes_are_rejected(note: str) -> None:
    # Mostly the badMsgs table of TestOpen in golang.org/x/mod/sumdb/note.
    with pytest.raises(CheckpointError):
        Verifier.from_key(GO_VERIFIER_KEY).verify_note(note)


def test_note_bytes_that_are_not_utf8_are_rejected() -> None:
    with pytest.raises(CheckpointError, match="UTF-8"):
        Verifier.from_key(GO_VERIFIER_KEY).verify_note(b"\xff" + GO_NOTE.encode("utf-8"))
    with pytest.raises(CheckpointError, match="UTF-8"):
        Verifier.from_key(GO_VERIFIER_KEY).verify_note("\udcff" + GO_NOTE)


def test_note_larger_than_limit_is_rejected() -> None:
    huge = "x" * MAX_NOTE_BYTES + "\n" + GO_TEXT + "\n" + GO_PETER_SIG
    with pytest.raises(CheckpointError, match="larger than"):
        Verifier.from_key(GO_VERIFIER_KEY).verify_note(huge)
    multibyte = "é" * (MAX_NOTE_BYTES // 2 + 1) + "\n\n" + GO_PETER_SIG
    with pytest.raises(CheckpointError, match="larger than"):
        Verifier.from_key(GO_VERIFIER_KEY).verify_note(multibyte)


def test_sixteen_signatures_are_accepted() -> None:
    others = [Signer(f"witness{i}", Ed25519PrivateKey.generate()) for i in range(15)]
    lines = [s.sign_note(GO_TEXT).split("\n\n", 1)[1] for s in others]
    note = GO_TEXT + "\n" + "".join(lines) + GO_PETER_SIG
    assert Verifier.from_key(GO_VERIFIER_KEY).verify_note(note) == GO_TEXT


# --------------------------------------------------------------------------------------
# Verifier keys
# --------------------------------------------------------------------------------------


def test_verifier_key_round_trips(signer: Signer) -> None:
    verifier = Verifier.from_key(signer.verifier_key())
    assert verifier.verifier_key() == signer.verifier_key()
    assert verifier.key_id == signer.key_id == key_id(signer.name, signer.public_key)


def test_every_truncation_and_byte_change_of_verifier_key_is_rejected() -> None:
    # Modelled on TestNewVerifier in golang.org/x/mod/sumdb/note.
    key = GO_VERIFIER_KEY
    for i in range(len(key) + 1):
        for j in range(i + 1, len(key) + 1):
            if (i, j) != (0, len(key)):
                with pytest.raises(CheckpointError):
                    Verifier.from_key(key[i:j])
    for i in range(len(key)):
        changed = key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :]
        with pytest.raises(CheckpointError):
            Verifier.from_key(changed)


@pytest.mark.parametrize(
    "key",
    [
        # Wrong key length and unknown algorithm, each with an adjusted key hash (Go tests).
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c7_4f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_rejected(key: str) -> None:
    with pytest.raises(CheckpointError):
        Verifier.from_key(key)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\there", "nbsp\u00a0x", "new\nline"])
def test_key_names_with_spaces_plus_or_empty_are_rejected(name: str) -> None:
    assert not is_valid_key_name(name)
    with pytest.raises(CheckpointError):
        Signer(name, Ed25519PrivateKey.generate())


# --------------------------------------------------------------------------------------
# Checkpoints (c2sp.org/tlog-checkpoint)
# --------------------------------------------------------------------------------------


def test_checkpoint_body_has_origin_size_and_base64_root(checkpoint: Checkpoint) -> None:
    expected = f"{ORIGIN}\n12345\n{base64.b64encode(ROOT).decode()}\n".encode()
    assert checkpoint.body() == expected
    assert Checkpoint.parse_body(expected) == checkpoint


def test_checkpoint_body_parses_spec_example_with_extension_lines() -> None:
    # The note text of the c2sp.org/tlog-checkpoint example, plus two extension lines.
    body = (
        b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        b"ext one\next two\n"
    )
    parsed = Checkpoint.parse_body(body)
    assert parsed.origin == "example.com/behind-the-sofa"
    assert parsed.tree_size == 20852163
    assert parsed.extensions == ("ext one", "ext two")
    assert parsed.body() == body


def test_signed_checkpoint_round_trips(signer: Signer, checkpoint: Checkpoint) -> None:
    note = signer.sign(checkpoint)
    assert note.startswith(checkpoint.body().decode() + "\n— " + ORIGIN + " ")
    verifier = Verifier.from_key(signer.verifier_key())
    assert verifier.verify(note) == checkpoint
    assert verifier.verify(note, expected_origin=ORIGIN) == checkpoint


def test_empty_tree_checkpoint_round_trips(signer: Signer) -> None:
    empty = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert Verifier.from_key(signer.verifier_key()).verify(signer.sign(empty)) == empty


def test_origin_may_differ_from_key_name_unless_an_origin_is_expected(signer: Signer) -> None:
    other = Checkpoint("other.example/log", 1, ROOT)
    verifier = Verifier.from_key(signer.verifier_key())
    assert verifier.verify(signer.sign(other)) == other
    with pytest.raises(CheckpointError, match="expected"):
        verifier.verify(signer.sign(other), expected_origin=ORIGIN)


def test_checkpoint_with_tampered_size_is_rejected(signer: Signer, checkpoint: Checkpoint) -> None:
    note = _replace_body_line(signer.sign(checkpoint), 1, "12346")
    with pytest.raises(CheckpointError, match="bad signature"):
        Verifier.from_key(signer.verifier_key()).verify(note)


def test_checkpoint_with_tampered_root_is_rejected(signer: Signer, checkpoint: Checkpoint) -> None:
    other_root = base64.b64encode(hash_leaf(b"other")).decode()
    note = _replace_body_line(signer.sign(checkpoint), 2, other_root)
    with pytest.raises(CheckpointError, match="bad signature"):
        Verifier.from_key(signer.verifier_key()).verify(note)


def test_checkpoint_with_tampered_origin_is_rejected(
    signer: Signer, checkpoint: Checkpoint
) -> None:
    note = _replace_body_line(signer.sign(checkpoint), 0, "evil.example/ledger")
    with pytest.raises(CheckpointError, match="bad signature"):
        Verifier.from_key(signer.verifier_key()).verify(note)


def test_checkpoint_with_added_extension_line_is_rejected(
    signer: Signer, checkpoint: Checkpoint
) -> None:
    note = signer.sign(checkpoint).replace("\n\n", "\nextra\n\n", 1)
    with pytest.raises(CheckpointError, match="bad signature"):
        Verifier.from_key(signer.verifier_key()).verify(note)


def test_checkpoint_with_tampered_signature_is_rejected(
    signer: Signer, checkpoint: Checkpoint
) -> None:
    note = signer.sign(checkpoint)
    body, _, line = note.partition("\n\n")
    prefix, _, sig_b64 = line.rstrip("\n").rpartition(" ")
    raw = bytearray(base64.b64decode(sig_b64))
    raw[-1] ^= 0x01
    tampered = f"{body}\n\n{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(CheckpointError, match="bad signature"):
        Verifier.from_key(signer.verifier_key()).verify(tampered)


def test_checkpoint_signed_by_another_key_is_rejected(checkpoint: Checkpoint) -> None:
    ours = Signer(ORIGIN, Ed25519PrivateKey.generate())
    theirs = Signer(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(CheckpointError, match="not signed by key"):
        Verifier.from_key(ours.verifier_key()).verify(theirs.sign(checkpoint))


def test_signed_note_that_is_not_a_checkpoint_is_rejected() -> None:
    with pytest.raises(CheckpointError, match="lines"):
        Verifier.from_key(GO_VERIFIER_KEY).verify(GO_NOTE)


@pytest.mark.parametrize(
    "body",
    [
        b"origin\n12\n",  # too few lines
        b"origin\n12\nAAAA\n",  # root not 32 bytes
        b"origin\n012\n" + base64.b64encode(ROOT) + b"\n",  # leading zero
        b"origin\n-1\n" + base64.b64encode(ROOT) + b"\n",
        b"origin\n+1\n" + base64.b64encode(ROOT) + b"\n",
        b"origin\n1_0\n" + base64.b64encode(ROOT) + b"\n",
        "origin\n١٢\n".encode() + base64.b64encode(ROOT) + b"\n",  # non-ASCII digits
        b"origin\n18446744073709551616\n" + base64.b64encode(ROOT) + b"\n",  # 2**64
        b"origin\n12\n" + base64.b64encode(ROOT).rstrip(b"=") + b"\n",  # no padding
        b"origin\n12\n" + base64.urlsafe_b64encode(b"\xff" * 32) + b"\n",  # URL alphabet
        b"origin\n12\n" + base64.b64encode(ROOT),  # no final newline
        b"\n12\n" + base64.b64encode(ROOT) + b"\n",  # empty origin
        b"origin\n12\n" + base64.b64encode(ROOT) + b"\n\n",  # empty extension line
        b"origin\n12\n" + base64.b64encode(ROOT) + b"\n\xff\n",  # not UTF-8
        b"ori\tgin\n12\n" + base64.b64encode(ROOT) + b"\n",  # control character
    ],
)
def test_malformed_checkpoint_bodies_are_rejected(body: bytes) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.parse_body(body)


def test_checkpoint_constructor_validates_fields() -> None:
    with pytest.raises(CheckpointError):
        Checkpoint("", 1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, ROOT[:31])
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, ROOT, ("",))


def test_signer_emits_no_extension_lines(signer: Signer) -> None:
    with pytest.raises(CheckpointError, match="extension"):
        signer.sign(Checkpoint(ORIGIN, 1, ROOT, ("ext",)))


def test_signed_checkpoint_with_extension_lines_verifies_and_keeps_them(signer: Signer) -> None:
    cp = Checkpoint(ORIGIN, 7, ROOT, ("ext a", "ext b"))
    note = signer.sign_note(cp.body().decode())
    assert Verifier.from_key(signer.verifier_key()).verify(note) == cp


# --------------------------------------------------------------------------------------
# Key files
# --------------------------------------------------------------------------------------


def test_generated_key_file_has_mode_0600_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    old_umask = os.umask(0)
    try:
        generate_key_file(path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    key = load_private_key(path)
    signer = Signer(ORIGIN, key)
    checkpoint = Checkpoint(ORIGIN, 3, ROOT)
    assert Verifier.from_key(signer.verifier_key()).verify(signer.sign(checkpoint)) == checkpoint


def test_generate_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    generate_key_file(path)
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        generate_key_file(path)
    assert path.read_bytes() == before


def test_generate_key_file_reports_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot create"):
        generate_key_file(tmp_path / "missing" / "ledger.key")


def test_key_file_readable_by_others_is_refused_with_chmod_hint(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    generate_key_file(path)
    secret = path.read_bytes()
    path.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        load_private_key(path)
    message = str(info.value)
    assert "0644" in message
    assert f"chmod 600 {path}" in message
    assert secret.decode() not in message
    assert "PRIVATE KEY" not in message


def test_key_file_writable_by_group_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    generate_key_file(path)
    path.chmod(0o620)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_private_key(path)


def test_missing_key_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot open"):
        load_private_key(tmp_path / "absent.key")


def test_key_file_with_garbage_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LW1hdGVyaWFs\n-----END PRIVATE KEY-----\n")
    os.close(fd)
    with pytest.raises(ConfigError) as info:
        load_private_key(path)
    assert "c2VjcmV0" not in str(info.value)
    assert info.value.__cause__ is None


def test_key_file_with_non_ed25519_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, pem)
    os.close(fd)
    with pytest.raises(ConfigError, match="not Ed25519"):
        load_private_key(path)


def test_signer_repr_does_not_show_the_private_key(signer: Signer) -> None:
    assert "private_key" not in repr(signer)
