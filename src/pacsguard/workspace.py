"""The data directory: settings, keys and the default SQLite ledger (docs/ledger.md §Files).

Resolution order: ``--data-dir``, then ``PACSGUARD_HOME``, then the user's data directory
(platformdirs). Layout, created by ``pacsguard init`` with mode 0700:

- ``pacsguard.toml``: ``database_url`` and ``origin`` (mode 0600: a PostgreSQL URL may hold a
  password; ``PACSGUARD_DATABASE_URL`` overrides it so none needs to be written down);
- ``ledger.key``: Ed25519 private key, PKCS#8 PEM, mode 0600, never printed or logged;
- ``ledger.pub``: the verifier key in signed-note form, for anyone who checks checkpoints;
- ``attr.key``: 32 random bytes keying the per-attribute clinical digests, mode 0600;
- ``latest-checkpoint``: a copy of the newest signed checkpoint, outside the database, so that
  a database rolled back by someone without file access is caught;
- ``ledger.sqlite``: the default ledger database.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pacsguard.errors import CheckpointError, ConfigError
from pacsguard.integrity.checkpoint import (
    Signer,
    Verifier,
    generate_key_file,
    load_private_key,
)
from pacsguard.integrity.ledger import Ledger
from pacsguard.integrity.profile import DEFAULT_PROFILE, HeaderProfile
from pacsguard.store.engine import check_schema, migrate, open_engine
from pacsguard.store.schema import ledger_meta

CONFIG = "pacsguard.toml"


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
        env_url = os.environ.get("PACSGUARD_DATABASE_URL")
        if env_url:
            out["database_url"] = env_url
        return out

    # -- init ------------------------------------------------------------------------------
    def init(self, database_url: str | None = None, origin: str | None = None,
             profile: HeaderProfile = DEFAULT_PROFILE) -> list[str]:
        """Create what is missing (directory, keys, settings, schema); return what was done."""
        done: list[str] = []
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.data_dir, 0o700)
        if not self.config_path.exists():
            url = database_url or f"sqlite:///{self.data_dir / 'ledger.sqlite'}"
            name = origin or f"pacsguard.local/ledger/{secrets.token_hex(4)}"
            text = (f"# pacsguard settings (written by 'pacsguard init')\n"
                    f"database_url = {_toml_str(url)}\norigin = {_toml_str(name)}\n")
            _write_private(self.config_path, text.encode())
            done.append(f"wrote settings {self.config_path}")
        elif database_url or origin:
            current = self.settings()
            if (database_url and database_url != current["database_url"]) or (
                origin and origin != current["origin"]
            ):
                raise ConfigError(
                    f"{self.data_dir} is already initialised with other settings; edit "
                    f"{self.config_path} or use another --data-dir"
                )
        settings = self.settings()
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
        engine = open_engine(settings["database_url"])
        try:
            migrate(engine)
            with engine.begin() as conn:
                have = {k: v for k, v in conn.execute(ledger_meta.select())}
                wanted = {"origin": settings["origin"], "header_profile": profile.to_text(),
                          "header_profile_id": profile.id,
                          "verifier_key": signer.verifier_key()}
                for k, v in wanted.items():
                    if k not in have:
                        conn.execute(ledger_meta.insert(), {"key": k, "value": v})
                    elif k in ("origin", "verifier_key") and have[k] != v:
                        raise ConfigError(
                            f"the ledger database already belongs to {k} {have[k]!r}; this data "
                            f"directory has {v!r}. Point database_url at the right ledger, or "
                            "copy that ledger's key here"
                        )
            done.append("ledger database ready (schema at newest revision)")
        finally:
            engine.dispose()
        return done

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
        return Ledger(engine, settings["origin"], verifier, signer), profile, attr_key

    def save_checkpoint_copy(self, note: str) -> None:
        tmp = self.checkpoint_copy.with_suffix(".tmp")
        tmp.write_text(note)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.checkpoint_copy)
