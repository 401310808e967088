"""Signed tree heads: C2SP tlog-checkpoint bodies in C2SP signed notes, signed with Ed25519.

A checkpoint (c2sp.org/tlog-checkpoint) is the note text::

    <origin>\\n<decimal tree size>\\n<base64 root hash>\\n[<extension line>\\n ...]

and a signed note (c2sp.org/signed-note) is that text, a blank line, then signature lines
``— <key name> <base64(4-byte key ID || signature)>``. The format is the one of
golang.org/x/mod/sumdb/note, whose test vectors this module reproduces.

Private keys live in PKCS#8 PEM files readable by their owner only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from pacsguard.errors import CheckpointError, ConfigError
from pacsguard.files import write_fully

# c2sp.org/signed-note "Format": signature lines start with em dash (U+2014) and a space.
SIGNATURE_PREFIX = "\u2014 "
# c2sp.org/signed-note "Signature types": 0x01 is Ed25519.
ED25519_SIGNATURE_TYPE = b"\x01"
KEY_ID_SIZE = 4
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
ROOT_HASH_SIZE = 32  # RFC 6962 SHA-256 tree
# c2sp.org/signed-note "Format": verifiers SHOULD limit the size of a note.
MAX_NOTE_BYTES = 1024 * 1024
# golang.org/x/mod/sumdb/note Open: at most 100 signatures (the spec needs at least 16).
MAX_SIGNATURES = 100
MAX_TREE_SIZE = 2**64 - 1

_TREE_SIZE_RE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX_RE = re.compile(r"[0-9a-fA-F]{8}")
_KEY_FILE_MODE = 0o600


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), as both C2SP specs require."""
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Strict, canonical standard base64 (RFC 4648 §4); CheckpointError otherwise."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise CheckpointError(f"{what} is not valid base64") from None
    if _b64encode(data) != text:
        raise CheckpointError(f"{what} is not canonical base64")
    return data


def is_valid_key_name(name: str) -> bool:
    """Key names are non-empty, without Unicode spaces or '+'. c2sp.org/signed-note "Format"."""
    return (
        name != ""
        and "+" not in name
        and not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name)
    )


def key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4].

    c2sp.org/signed-note "Ed25519 signatures".
    """
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + ED25519_SIGNATURE_TYPE + public_key
    ).digest()
    return digest[:KEY_ID_SIZE]


def _raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check_text(text: str, what: str) -> None:
    """No ASCII control characters other than newline. c2sp.org/signed-note "Format"."""
    for ch in text:
        if ord(ch) < 0x20 and ch != "\n":
            raise CheckpointError(f"{what} contains the control character U+{ord(ch):04X}")


# --------------------------------------------------------------------------------------
# Checkpoint body (c2sp.org/tlog-checkpoint "Note text")
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size and RFC 6962 root hash. c2sp.org/tlog-checkpoint."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise CheckpointError("checkpoint origin must be one non-empty line")
        _check_text(self.origin, "checkpoint origin")
        if (
            not isinstance(self.tree_size, int)
            or isinstance(self.tree_size, bool)
            or not 0 <= self.tree_size <= MAX_TREE_SIZE
        ):
            raise CheckpointError(f"checkpoint tree size {self.tree_size!r} is out of range")
        if len(self.root_hash) != ROOT_HASH_SIZE:
            raise CheckpointError(
                f"checkpoint root hash is {len(self.root_hash)} bytes, not {ROOT_HASH_SIZE}"
            )
        for line in self.extensions:
            if not line or "\n" in line:
                raise CheckpointError("checkpoint extension lines must be non-empty single lines")
            _check_text(line, "checkpoint extension line")

    def body(self) -> bytes:
        """The note text, final newline included. c2sp.org/tlog-checkpoint "Note text"."""
        lines = [self.origin, str(self.tree_size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")

    @classmethod
    def parse_body(cls, body: bytes) -> Checkpoint:
        """Parse a checkpoint note text; extension lines are kept. c2sp.org/tlog-checkpoint."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise CheckpointError("checkpoint is not valid UTF-8") from None
        _check_text(text, "checkpoint")
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(
                f"checkpoint has {len(lines)} lines; origin, tree size and root hash are needed"
            )
        if any(line == "" for line in lines):
            raise CheckpointError("checkpoint contains an empty line")
        origin, size_text, root_text, *extensions = lines
        if not _TREE_SIZE_RE.fullmatch(size_text):
            raise CheckpointError(
                f"checkpoint tree size {size_text[:40]!r} is not a decimal number "
                "without leading zeros"
            )
        if len(size_text) > 20 or int(size_text) > MAX_TREE_SIZE:
            raise CheckpointError("checkpoint tree size is larger than 2**64 - 1")
        root_hash = _b64decode(root_text, "checkpoint root hash")
        return cls(origin, int(size_text), root_hash, tuple(extensions))


# --------------------------------------------------------------------------------------
# Signing (c2sp.org/signed-note)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """An Ed25519 note signer with a key name. c2sp.org/signed-note "Ed25519 signatures"."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise CheckpointError(
                f"key name {self.name!r} must be non-empty and contain no spaces or '+'"
            )

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return _raw_public_key(self.private_key.public_key())

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID. c2sp.org/signed-note "Signatures"."""
        return key_id(self.name, self.public_key)

    def verifier_key(self) -> str:
        """``<name>+<8 hex key ID>+<base64(0x01 || public key)>`` (golang.org/x/mod/sumdb/note)."""
        encoded = _b64encode(ED25519_SIGNATURE_TYPE + self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def sign_note(self, text: str) -> str:
        """Sign a note text (ending in newline); return the signed note. c2sp.org/signed-note."""
        if not text.endswith("\n"):
            raise CheckpointError("note text must end with a newline")
        _check_text(text, "note text")
        message = text.encode("utf-8")
        if len(message) > MAX_NOTE_BYTES:
            raise CheckpointError(f"note text is larger than {MAX_NOTE_BYTES} bytes")
        signature = self.private_key.sign(message)
        line = f"{SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_id + signature)}\n"
        return text + "\n" + line

    def sign(self, checkpoint: Checkpoint) -> str:
        """The signed note for a checkpoint, without extension lines. c2sp.org/tlog-checkpoint."""
        if checkpoint.extensions:
            raise CheckpointError("refusing to sign a checkpoint with extension lines")
        return self.sign_note(checkpoint.body().decode("utf-8"))


# --------------------------------------------------------------------------------------
# Verifying (c2sp.org/signed-note "Signatures")
# --------------------------------------------------------------------------------------


def _split_note(note: str | bytes) -> tuple[str, list[str]]:
    """Split a signed note into its text and its signature lines. c2sp.org/signed-note."""
    if len(note) > MAX_NOTE_BYTES:  # cheap early check; a str is never shorter in UTF-8
        raise CheckpointError(f"malformed note: larger than {MAX_NOTE_BYTES} bytes")
    try:
        raw = note.encode("utf-8") if isinstance(note, str) else note
        text = raw.decode("utf-8")
    except UnicodeError:
        raise CheckpointError("malformed note: not valid UTF-8") from None
    if len(raw) > MAX_NOTE_BYTES:
        raise CheckpointError(f"malformed note: larger than {MAX_NOTE_BYTES} bytes")
    _check_text(text, "malformed note: the note")
    split = text.rfind("\n\n")
    if split < 0:
        raise CheckpointError("malformed note: no blank line before the signatures")
    body, signatures = text[: split + 1], text[split + 2 :]
    if not signatures or not signatures.endswith("\n"):
        raise CheckpointError("malformed note: the signature block is empty or unterminated")
    lines = signatures[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    return body, lines


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 note verifier for one key name and key ID. c2sp.org/signed-note."""

    name: str
    key_id: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise CheckpointError(f"verifier key name {self.name!r} is not a valid key name")
        if len(self.public_key) != ED25519_PUBLIC_KEY_SIZE:
            raise CheckpointError("verifier public key is not 32 bytes")
        if key_id(self.name, self.public_key) != self.key_id:
            raise CheckpointError(
                f"verifier key ID {self.key_id.hex()} does not match the name and public key"
            )

    @classmethod
    def from_key(cls, verifier_key: str) -> Verifier:
        """Parse ``<name>+<8 hex key ID>+<base64(0x01 || public key)>`` (sumdb/note format)."""
        name, _, rest = verifier_key.partition("+")
        id_hex, _, key_b64 = rest.partition("+")
        if not is_valid_key_name(name):
            raise CheckpointError(f"verifier key has an invalid key name {name[:80]!r}")
        if not _KEY_ID_HEX_RE.fullmatch(id_hex):
            raise CheckpointError(f"verifier key {name}: the key ID is not 8 hex digits")
        key = _b64decode(key_b64, f"verifier key {name}: the public key")
        if len(key) != 1 + ED25519_PUBLIC_KEY_SIZE:
            raise CheckpointError(f"verifier key {name}: the public key has the wrong length")
        if key[:1] != ED25519_SIGNATURE_TYPE:
            raise CheckpointError(
                f"verifier key {name}: unsupported signature type 0x{key[0]:02x} "
                "(only Ed25519, 0x01)"
            )
        expected_id = bytes.fromhex(id_hex)
        if key_id(name, key[1:]) != expected_id:
            raise CheckpointError(
                f"verifier key {name}+{id_hex}: the key ID does not match the name and key"
            )
        return cls(name, expected_id, key[1:])

    @property
    def label(self) -> str:
        """``<name>+<key ID hex>``, how error messages name this key."""
        return f"{self.name}+{self.key_id.hex()}"

    def verifier_key(self) -> str:
        """The encoded verifier key string."""
        encoded = _b64encode(ED25519_SIGNATURE_TYPE + self.public_key)
        return f"{self.label}+{encoded}"

    def verify_note(self, note: str | bytes) -> str:
        """Check a signed note; return its text (final newline included).

        Implements c2sp.org/signed-note "Signatures": signatures by unknown keys are
        ignored, a failing signature by our key rejects the note, and at least one
        signature by our key must verify.
        """
        text, lines = _split_note(note)
        public_key = Ed25519PublicKey.from_public_bytes(self.public_key)
        message = text.encode("utf-8")
        verified = False
        others: list[str] = []
        for number, line in enumerate(lines, start=1):
            if not line.startswith(SIGNATURE_PREFIX):
                raise CheckpointError(
                    f"malformed note: signature line {number} does not start with '— '"
                )
            name, _, sig_b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
            if not is_valid_key_name(name) or not sig_b64:
                raise CheckpointError(f"malformed note: signature line {number} is malformed")
            blob = _b64decode(sig_b64, f"malformed note: signature line {number}")
            if len(blob) < KEY_ID_SIZE + 1:
                raise CheckpointError(f"malformed note: signature line {number} is too short")
            sig_id, signature = blob[:KEY_ID_SIZE], blob[KEY_ID_SIZE:]
            if name != self.name or sig_id != self.key_id:
                others.append(f"{name}+{sig_id.hex()}")
                continue
            try:
                public_key.verify(signature, message)
            except InvalidSignature:
                raise CheckpointError(
                    f"bad signature: the signature by key {self.label} does not verify"
                ) from None
            verified = True
        if not verified:
            found = ", ".join(others) if others else "none"
            raise CheckpointError(
                f"note is not signed by key {self.label} (signatures found by: {found})"
            )
        return text

    def verify(self, note: str | bytes, expected_origin: str | None = None) -> Checkpoint:
        """Verify a signed checkpoint note and parse it. c2sp.org/tlog-checkpoint.

        The origin may differ from the key name (the spec only says it SHOULD match);
        pass ``expected_origin`` to require a particular origin.
        """
        checkpoint = Checkpoint.parse_body(self.verify_note(note).encode("utf-8"))
        if expected_origin is not None and checkpoint.origin != expected_origin:
            raise CheckpointError(
                f"checkpoint origin {checkpoint.origin!r} is not the expected {expected_origin!r}"
            )
        return checkpoint


# --------------------------------------------------------------------------------------
# Key files
# --------------------------------------------------------------------------------------


def generate_key_file(path: Path) -> None:
    """Write a new Ed25519 private key as unencrypted PKCS#8 PEM, mode 0600.

    The file is created with O_CREAT | O_EXCL, so an existing file is never overwritten.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, _KEY_FILE_MODE)
    except FileExistsError:
        raise ConfigError(
            f"key file {path} already exists; refusing to overwrite it "
            "(move it away first if you really want a new key)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot create key file {path}: {exc.strerror}") from None
    try:
        try:
            os.fchmod(fd, _KEY_FILE_MODE)  # exactly 0600, whatever the umask
            write_fully(fd, pem)
        finally:
            os.close(fd)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise ConfigError(f"cannot write key file {path}: {exc.strerror}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from a PKCS#8 PEM file that only its owner can access.

    Raises ConfigError (never showing key material) if the file is missing, is readable
    or writable by group or others, or does not hold an unencrypted Ed25519 key.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(f"cannot open key file {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"key file {path} has mode {mode:04o}, which lets group or others access it; "
                f"fix it with: chmod 600 {shlex.quote(str(path))}"
            )
        chunks: list[bytes] = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        key = serialization.load_pem_private_key(b"".join(chunks), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(
            f"key file {path} does not hold an unencrypted PKCS#8 PEM private key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"key file {path} holds a private key that is not Ed25519")
    return key
