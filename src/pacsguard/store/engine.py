"""Opening the ledger database: SQLite (default, embedded) or PostgreSQL (psycopg 3).

SQLite runs in WAL mode with ``synchronous=FULL`` so a committed batch survives a power cut;
``read_only=True`` opens it with ``mode=ro`` so the verifier cannot change it. PostgreSQL URLs
(``postgresql://...``) are mapped to the psycopg 3 driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine, create_engine, event, text
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from pacsguard.errors import StoreError

_MIGRATIONS = Path(__file__).parent / "migrations"
#: The newest Alembic revision. Commands other than ``init`` compare the database with it
#: directly, so they start without importing Alembic; a test keeps it equal to Alembic's head.
HEAD_REVISION = "0003"


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def open_engine(url: str, read_only: bool = False) -> Engine:
    url = normalise_url(url)
    try:
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///") :]
            if read_only:
                if not Path(path).exists():
                    raise StoreError(f"ledger database {path} does not exist; run "
                                     "'pacsguard init' first")
                engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
            else:
                engine = create_engine(url)

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                # pysqlite's own transaction handling would BEGIN DEFERRED, and two writers
                # that both read the tree size first then deadlock on the upgrade; take the
                # write lock up front instead (SQLAlchemy's documented recipe)
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                if not read_only:
                    cur.execute("PRAGMA journal_mode=WAL")
                    cur.execute("PRAGMA synchronous=FULL")
                # 64 MiB page cache (default 2 MiB): the UID index is updated at random
                # places; with the default cache, appends slowed down 2x by 100,000 entries
                cur.execute("PRAGMA cache_size=-65536")
                cur.execute("PRAGMA wal_autocheckpoint=16384")
                cur.execute("PRAGMA busy_timeout=60000")
                cur.close()

            @event.listens_for(engine, "begin")
            def _begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

            return engine
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if read_only and url.startswith("postgresql"):
            kwargs["execution_options"] = {"postgresql_readonly": True}
        return create_engine(url, **kwargs)
    except ArgumentError as exc:
        raise StoreError(f"database URL {redact(url)} is not valid: {exc}") from None
    except ModuleNotFoundError as exc:
        raise StoreError(f"database driver missing for {redact(url)}: {exc}") from None


def _alembic_config() -> Any:
    """Alembic's configuration for our migrations (Alembic is imported only when needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def alembic_head() -> str | None:
    """The head revision according to Alembic itself."""
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    return head


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic ``upgrade head``)."""
    from alembic import command

    cfg = _alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise StoreError(
            f"cannot migrate the ledger database {redact(str(engine.url))}: {exc.orig}"
        ) from None


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database that is not at the newest schema revision."""
    head = HEAD_REVISION
    try:
        with engine.connect() as conn:
            has_table = engine.dialect.has_table(conn, "alembic_version")
            current = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                       if has_table else None)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot open the ledger database {redact(str(engine.url))}: "
            f"{getattr(exc, 'orig', exc)}"
        ) from None
    if current is None:
        raise StoreError(f"ledger database {redact(str(engine.url))} is not initialised; "
                         "run 'pacsguard init'")
    if current != head:
        raise StoreError(
            f"ledger database {redact(str(engine.url))} is at schema {current}, this pacsguard "
            f"needs {head}; run 'pacsguard init' to migrate it"
        )


def advisory_lock(conn: Connection, key: int) -> None:
    """Serialise writers that share one PostgreSQL database: a transaction-scoped advisory
    lock on ``key`` (SQLite needs none: its writers already take the write lock up front)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def inserted_id(result: CursorResult[Any]) -> int:
    """The integer primary key of the row an INSERT just made."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - only for INSERTs without a key
        raise StoreError("the database returned no id for a new row")
    return int(key[0])
