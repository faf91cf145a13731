"""The store: one database through SQLAlchemy, its schema made and upgraded by Alembic migrations.

SQLite by default (lextune.db under LEXTUNE_HOME), or any URL in LEXTUNE_DATABASE_URL; on PostgreSQL,
LEXTUNE_DATABASE_SCHEMA puts the whole store (its alembic_version included) in one schema, created
when missing, so stores of several tenants share a database without seeing each other. Opening a
store brings its schema to the newest revision; a lextune.db from before migrations is taken over
with every row kept (docs/database.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lextune.core import audit, tables_review, tables_security  # noqa: F401  (their tables join Base)
from lextune.core.config import Settings, get_settings
from lextune.core.errors import ConfigError
from lextune.core.file_lock import exclusive
from lextune.core.fts import ensure_fts
from lextune.core.tables import Base
from lextune.migrations.runner import migrate
from lextune.security.sealed_types import KEYRING_ATTR
from lextune.security.store_keys import load_keyring

# Tenant slugs become schema names: quoted where needed, so hyphens are fine; quotes never are.
_SCHEMA_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")


def _sqlite_module():
    """pysqlite3 (newer SQLite, loads extensions) when installed, else the built-in sqlite3."""
    try:
        import pysqlite3.dbapi2 as sqlite  # type: ignore[import-not-found]
    except ImportError:
        import sqlite3 as sqlite
    return sqlite


class Store:
    """Database access; `with store.session() as s:` is one transaction, committed on success."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.engine: Engine = make_engine(self.settings)
        self.schema = store_schema(self.engine, self.settings)
        try:
            self._open()
        except BaseException:
            self.engine.dispose()  # a store that failed to open holds no connections
            raise
        # Sessions carry the settings so the audit log finds this store's key and anchor.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False,
                                      info={audit.SETTINGS_INFO: self.settings})

    def _open(self) -> None:
        # Stores opened at once on a new database would each create its tables, index and data keys.
        with _opening(self.engine, self.schema):
            adopted = migrate(self.engine, self.schema)
            ensure_fts(self.engine)
            audit.ensure_head(self.engine)
            # Envelope encryption: this store's data keys, unwrapped by the master key; sealed columns find the
            # keyring on the engine's dialect (one engine per store). No master key, no store: never plaintext.
            self.keyring = load_keyring(self.engine, self.settings)
        setattr(self.engine.dialect, KEYRING_ATTR, self.keyring)
        if adopted:
            # A database from before migrations is from before sealing too: its client text is plaintext,
            # which sealed columns refuse to open. Interrupted, `lextune keys rotate --reencrypt` finishes it.
            from lextune.security.rotation import reencrypt_columns

            reencrypt_columns(self)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def _opening(engine: Engine, schema: str | None) -> Iterator[None]:
    """Serialise the opening of one store across threads and processes (a lock outside any transaction)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            key = {"k": f"lextune-open:{schema or ''}"}
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), key)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), key)
                conn.commit()
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    path = Path(database)
    with exclusive(path.with_name(f".{path.name}.open-lock")):  # Windows: unserialised, as before
        yield


def store_schema(engine: Engine, settings: Settings) -> str | None:
    """The schema the store lives in: LEXTUNE_DATABASE_SCHEMA on PostgreSQL; SQLite has none."""
    return settings.database_schema if engine.dialect.name == "postgresql" else None


def make_engine(settings: Settings) -> Engine:
    """An engine for the settings' database; on PostgreSQL with a schema, that schema exists after this."""
    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite":
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, module=_sqlite_module())
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(url)
    if engine.dialect.name != "postgresql":
        return engine
    schema = settings.database_schema
    if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(f"LEXTUNE_DATABASE_SCHEMA {schema!r}: use letters, digits, '_' or '-' (at most 63)")
    quoted = engine.dialect.identifier_preparer.quote_schema(schema) if schema else None
    # insert=True: runs before SQLAlchemy's first-connect setup, which then takes the schema as its default.
    event.listen(engine, "connect", _postgres_session(quoted), insert=True)
    if quoted:
        _create_schema(engine, quoted)
    return engine


def _create_schema(engine: Engine, quoted: str) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
    except IntegrityError:  # a concurrent store created it between the check and the insert
        pass


def _postgres_session(quoted_schema: str | None):
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Autocommit so the settings outlive the rollback the pool does when a connection is returned.
        was = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        with dbapi_conn.cursor() as cur:
            # Naive UTC is what the audit MACs and SQLite rows use: timestamptz comes back in UTC.
            cur.execute("SET TIME ZONE 'UTC'")
            if quoted_schema:
                # public stays behind it for extensions installed there; the store's own tables shadow it.
                cur.execute(f"SET search_path TO {quoted_schema}, public")
        dbapi_conn.autocommit = was

    return on_connect


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # First: switching a new file to WAL waits for a store that is migrating it instead of failing.
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL keeps every commit atomic and the database consistent; a power cut can lose
    # only the last commits (re-running ingest restores them). FULL's fsync per file was 15% of ingest.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def add_missing_columns(bind: Engine | Connection, tables: Iterable[Table] | None = None,
                        schema: str | None = None) -> list[str]:
    """Add the columns of `tables` (default: lextune's) that the database's tables lack; keep all rows.

    Only additive changes; existing rows get the model's scalar default. The baseline revision uses it
    to take over a database from before migrations. Returns "table.column" for each column added.
    """
    tables = Base.metadata.sorted_tables if tables is None else tables
    added: list[str] = []
    begin = bind.begin() if isinstance(bind, Engine) else nullcontext(bind)
    with begin as conn:
        inspector = inspect(conn)
        for table in tables:
            if not inspector.has_table(table.name, schema=schema):
                continue
            present = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
            for column in table.columns:
                if column.name in present:
                    continue
                ddl_type = column.type.compile(dialect=conn.dialect)
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {ddl_type}'
                                  f'{_default_clause(table.name, column, conn.dialect)}'))
                added.append(f"{table.name}.{column.name}")
    return added


def _default_clause(table: str, column: Any, dialect: Any) -> str:
    """DEFAULT for the rows already there: the column's scalar default, else the current model's."""
    model = Base.metadata.tables.get(table)
    source = column if column.default is not None else (model.c.get(column.name) if model is not None else None)
    default = getattr(getattr(source, "default", None), "arg", None)
    if isinstance(default, bool):
        return f" DEFAULT {int(default)}" if dialect.name == "sqlite" else f" DEFAULT {str(default).upper()}"
    if isinstance(default, int | float):
        return f" DEFAULT {default}"
    if isinstance(default, str):
        return " DEFAULT '" + default.replace("'", "''") + "'"
    return ""
