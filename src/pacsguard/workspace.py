"""The data directory: settings, keys and the default SQLite ledger (docs/ledger.md §Files).

Resolution order: ``--data-dir``, then ``PACSGUARD_HOME``, then the user's data directory
(platformdirs). Layout, created by ``pacsguard init`` with mode 0700:

- ``pacsguard.toml``: ``database_url`` and ``origin`` (mode 0600: a PostgreSQL URL may hold a
  password; ``PACSGUARD_DATABASE_URL`` overrides it so none needs to be written down). A
  SQLite path is relative to the data directory (``sqlite:///ledger.sqlite``), so a copied or
  restored directory uses its own database; one outside the directory is refused unless
  ``allow_external_database = true`` says it is meant;
- ``ledger.key``: Ed25519 private key, PKCS#8 PEM, mode 0600, never printed or logged;
- ``ledger.pub``: the verifier key in signed-note form, for anyone who checks checkpoints;
- ``attr.key``: 32 random bytes keying the per-attribute clinical digests, mode 0600;
- ``latest-checkpoint``: a copy of the newest signed checkpoint, outside the database, so that
  a database rolled back by someone without file access is caught;
- ``ledger.sqlite``: the default ledger database.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.errors import CheckpointError, ConfigError, StoreError
from pacsguard.integrity.checkpoint import (
    Signer,
    Verifier,
    generate_key_file,
    load_private_key,
)
from pacsguard.integrity.ledger import Ledger
from pacsguard.integrity.profile import DEFAULT_PROFILE, HeaderProfile
from pacsguard.store.engine import check_schema, migrate, open_engine, redact
from pacsguard.store.schema import ledger_meta

CONFIG = "pacsguard.toml"
_SQLITE = "sqlite:///"
#: The configuration key that lets a SQLite database live outside the data directory
EXTERNAL_KEY = "allow_external_database"


def resolve_data_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit.expanduser().resolve()
    env = os.environ.get("PACSGUARD_HOME")
    if env:
        return Path(env).expanduser().resolve()
    from platformdirs import user_data_dir

    return Path(user_data_dir("pacsguard")).resolve()


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sqlite_path(url: str) -> Path | None:
    """The file path of a ``sqlite:///PATH`` URL (relative, or absolute as ``sqlite:////P``);
    None for other databases and for SQLite in memory."""
    if not url.startswith(_SQLITE):
        return None
    rest = url[len(_SQLITE):]
    return Path(rest) if rest and rest != ":memory:" else None


def attr_key_id(key: bytes) -> str:
    """What the ledger keeps of ``attr.key`` to recognise it (``attr_key_id`` in
    ``ledger_meta``): an HMAC of a fixed label, which tells nothing about the key."""
    return hmac.new(key, b"pacsguard attr.key id", hashlib.sha256).hexdigest()[:16]


def _ledger_meta(engine: Engine) -> dict[str, str]:
    """The settings of the ledger the database already holds; empty for a new database."""
    try:
        with engine.connect() as conn:
            if not engine.dialect.has_table(conn, "ledger_meta"):
                return {}
            return {k: v for k, v in conn.execute(ledger_meta.select())}
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open the ledger database {redact(str(engine.url))}: "
                         f"{getattr(exc, 'orig', exc)}") from None


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Workspace:
    data_dir: Path

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG

    @property
    def key_path(self) -> Path:
        return self.data_dir / "ledger.key"

    @property
    def pub_path(self) -> Path:
        return self.data_dir / "ledger.pub"

    @property
    def attr_key_path(self) -> Path:
        return self.data_dir / "attr.key"

    @property
    def checkpoint_copy(self) -> Path:
        return self.data_dir / "latest-checkpoint"

    def settings(self) -> dict[str, str]:
        """``database_url`` (a SQLite path made absolute) and ``origin``."""
        if not self.config_path.exists():
            raise ConfigError(
                f"{self.data_dir} is not a pacsguard data directory (no {CONFIG}); run "
                f"'pacsguard init --data-dir {self.data_dir}' first"
            )
        try:
            data = tomllib.loads(self.config_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{self.config_path}: cannot be read: {exc}") from None
        out: dict[str, str] = {}
        for key in ("database_url", "origin"):
            value = data.get(key)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{self.config_path}: key '{key}' must be a non-empty string")
            out[key] = value
        external = data.get(EXTERNAL_KEY, False)
        if not isinstance(external, bool):
            raise ConfigError(f"{self.config_path}: key '{EXTERNAL_KEY}' must be true or false")
        env_url = os.environ.get("PACSGUARD_DATABASE_URL")
        if env_url:  # set on purpose for this process: wherever it points
            out["database_url"] = self.database_url(env_url, allow_external=True)
        else:
            out["database_url"] = self.database_url(out["database_url"], external)
        return out

    def database_url(self, url: str, allow_external: bool) -> str:
        """``url`` with a SQLite path resolved against the data directory (other URLs as they
        are). An absolute SQLite path outside the directory is refused unless
        ``allow_external``: a copied or restored data directory would otherwise silently
        keep writing to the original's database."""
        path = _sqlite_path(url)
        if path is None:
            return url
        home = self.data_dir.resolve()
        full = (home / path).resolve()  # an absolute ``path`` replaces ``home``
        if not allow_external and not full.is_relative_to(home):
            mine = home / full.name
            raise ConfigError(
                f"{self.config_path} names the ledger database {full}, outside its data "
                f"directory {home}. If this directory is a copy or a restore, its own "
                f"database is {mine}: set database_url = \"{_SQLITE}{full.name}\" (relative "
                f"to the data directory) to use it. To keep using {full} from here on "
                f"purpose, add {EXTERNAL_KEY} = true to {self.config_path}"
            )
        return _SQLITE + str(full)

    def _config_url(self, url: str) -> tuple[str, bool]:
        """How ``init`` writes a database URL: a SQLite path inside the data directory
        relative to it; one outside it absolute, with ``allow_external_database``."""
        path = _sqlite_path(url)
        if path is None:
            return url, False
        home = self.data_dir.resolve()
        full = (home / path).resolve()
        if full.is_relative_to(home):
            return _SQLITE + full.relative_to(home).as_posix(), False
        return _SQLITE + str(full), True

    # -- init ------------------------------------------------------------------------------
    def init(self, database_url: str | None = None, origin: str | None = None,
             profile: HeaderProfile = DEFAULT_PROFILE) -> list[str]:
        """Create what is missing (directory, keys, settings, schema); return what was done.

        A database that already holds a ledger is joined, never given new keys: this
        directory needs that ledger's ``ledger.key`` and ``attr.key`` first (docs/ledger.md,
        'Joining a shared ledger'), and is refused before anything is written without them.
        """
        done: list[str] = []
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.data_dir, 0o700)
        fresh = not self.config_path.exists()
        if fresh:
            url = self.database_url(os.environ.get("PACSGUARD_DATABASE_URL") or database_url
                                    or f"{_SQLITE}ledger.sqlite", allow_external=True)
        else:
            current = self.settings()
            if (database_url and self.database_url(database_url, allow_external=True)
                    != current["database_url"]) or (origin and origin != current["origin"]):
                raise ConfigError(
                    f"{self.data_dir} is already initialised with other settings; edit "
                    f"{self.config_path} or use another --data-dir"
                )
            url = current["database_url"]
        engine = open_engine(url)
        try:
            there = _ledger_meta(engine)
            self._check_can_join(url, there)
            if fresh:
                done += self._write_config(database_url, origin or there.get("origin"))
            settings = self.settings()
            if self._make_database_path_relative():
                done.append(f"database_url in {self.config_path} is now relative to the data "
                            "directory")
            if not self.key_path.exists():
                generate_key_file(self.key_path)
                done.append(f"created signing key {self.key_path} (mode 0600)")
            signer = Signer(settings["origin"], load_private_key(self.key_path))
            pub = signer.verifier_key() + "\n"
            if not self.pub_path.exists() or self.pub_path.read_text() != pub:
                self.pub_path.write_text(pub)
                done.append(f"wrote verifier key {self.pub_path}")
            if not self.attr_key_path.exists():
                _write_private(self.attr_key_path, secrets.token_bytes(32))
                done.append(f"created attribute key {self.attr_key_path} (mode 0600)")
            migrate(engine)
            with engine.begin() as conn:
                have = {k: v for k, v in conn.execute(ledger_meta.select())}
                wanted = {"origin": settings["origin"], "header_profile": profile.to_text(),
                          "header_profile_id": profile.id,
                          "verifier_key": signer.verifier_key(),
                          "attr_key_id": attr_key_id(self.attr_key_path.read_bytes())}
                for k, v in wanted.items():
                    if k not in have:
                        conn.execute(ledger_meta.insert(), {"key": k, "value": v})
                    elif k in ("origin", "verifier_key") and have[k] != v:
                        raise ConfigError(
                            f"the ledger database already belongs to {k} {have[k]!r}; this data "
                            f"directory has {v!r}. Point database_url at the right ledger, or "
                            "copy that ledger's ledger.key and attr.key here (docs/ledger.md, "
                            "'Joining a shared ledger')"
                        )
                    elif k == "attr_key_id" and have[k] != v:
                        raise ConfigError(self._wrong_attr_key())
            done.append("ledger database ready (schema at newest revision)")
        finally:
            engine.dispose()
        return done

    def _check_can_join(self, url: str, there: dict[str, str]) -> None:
        """Refuse, before anything is written, to give an existing ledger new keys."""
        missing = [p.name for p, needed in ((self.key_path, "verifier_key" in there),
                                            (self.attr_key_path, "attr_key_id" in there))
                   if needed and not p.exists()]
        if missing:
            raise ConfigError(
                f"the database {redact(url)} already holds the ledger "
                f"{there.get('origin', '?')!r}, and this data directory has no "
                f"{' or '.join(missing)}. To join that ledger from this machine, copy "
                f"ledger.key and attr.key (mode 0600) and ledger.pub from the data directory of "
                f"a machine that uses it into {self.data_dir}, then run 'pacsguard init' again "
                "(docs/ledger.md, 'Joining a shared ledger'). To start a new ledger instead, "
                "give another --database-url"
            )

    def _write_config(self, database_url: str | None, origin: str | None) -> list[str]:
        done = []
        url, external = self._config_url(database_url or f"{_SQLITE}ledger.sqlite")
        name = origin or f"pacsguard.local/ledger/{secrets.token_hex(4)}"
        text = (f"# pacsguard settings (written by 'pacsguard init'). A SQLite path is "
                f"relative to this directory.\n"
                f"database_url = {_toml_str(url)}\norigin = {_toml_str(name)}\n")
        if external:
            text += (f"# the database is outside this directory on purpose: copies of the "
                     f"directory keep using it\n{EXTERNAL_KEY} = true\n")
            done.append(f"the ledger database {_sqlite_path(url)} is outside the data "
                        f"directory; copies of {self.data_dir} will keep using it")
        _write_private(self.config_path, text.encode())
        done.append(f"wrote settings {self.config_path}")
        return done

    def _wrong_attr_key(self) -> str:
        return (f"{self.attr_key_path} is not the attribute key of this ledger: the "
                "per-attribute digests made with it could not be compared with the ledger's. "
                "Copy attr.key from the data directory of a machine that uses the ledger "
                "(docs/ledger.md, 'Joining a shared ledger')")

    def _make_database_path_relative(self) -> bool:
        """Rewrite an absolute SQLite path inside the data directory (what ``init`` wrote
        before paths were relative) as a relative one, so the directory can be copied."""
        text = self.config_path.read_text()
        url = tomllib.loads(text).get("database_url")
        if not isinstance(url, str) or not url.startswith(_SQLITE + "/"):
            return False
        relative, external = self._config_url(url)
        if external:
            return False
        new = re.sub(r"(?m)^database_url\s*=.*$", lambda _: f"database_url = {_toml_str(relative)}",
                     text, count=1)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        _write_private(tmp, new.encode())
        os.replace(tmp, self.config_path)
        return True

    # -- opening ---------------------------------------------------------------------------
    def open_ledger(self, read_only: bool = False) -> tuple[Ledger, HeaderProfile, bytes | None]:
        """The ledger, its header profile, and the attribute key (if this machine has it)."""
        settings = self.settings()
        try:
            verifier = Verifier.from_key(self.pub_path.read_text().strip())
        except OSError:
            raise ConfigError(f"verifier key {self.pub_path} is missing; run 'pacsguard init'"
                              ) from None
        signer = None
        if not read_only:
            if not self.key_path.exists():
                raise ConfigError(
                    f"the ledger's signing key {self.key_path} is not on this machine; "
                    "appending and signing checkpoints need it. Do that where the key is, or "
                    "copy ledger.key (mode 0600) and attr.key from the data directory that "
                    "made the ledger (docs/ledger.md, 'Joining a shared ledger')"
                )
            signer = Signer(settings["origin"], load_private_key(self.key_path))
            if signer.verifier_key() != verifier.verifier_key():
                raise ConfigError(f"{self.pub_path} does not belong to {self.key_path}")
        engine = open_engine(settings["database_url"], read_only=read_only)
        check_schema(engine)
        with engine.connect() as conn:
            meta = {k: v for k, v in conn.execute(ledger_meta.select())}
        if meta.get("verifier_key") != verifier.verifier_key():
            raise CheckpointError(
                f"the ledger database is signed by {meta.get('verifier_key', 'no key')!r}, "
                f"not by this data directory's key {verifier.verifier_key()!r}"
            )
        profile = HeaderProfile.from_text(meta.get("header_profile", ""))
        attr_key = None
        if self.attr_key_path.exists():
            attr_key = self.attr_key_path.read_bytes()
        wanted = meta.get("attr_key_id")
        if wanted and attr_key is not None and attr_key_id(attr_key) != wanted:
            raise ConfigError(self._wrong_attr_key())
        if wanted and attr_key is None and not read_only:
            raise ConfigError(
                f"the attribute key {self.attr_key_path} is not on this machine; entries "
                "recorded without it could not name a changed patient attribute. Copy attr.key "
                "(mode 0600) from the data directory of a machine that uses the ledger "
                "(docs/ledger.md, 'Joining a shared ledger')"
            )
        return Ledger(engine, settings["origin"], verifier, signer), profile, attr_key

    def save_checkpoint_copy(self, note: str) -> None:
        tmp = self.checkpoint_copy.with_suffix(".tmp")
        tmp.write_text(note)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.checkpoint_copy)
