"""The store: one SQLite database under LEXTUNE_HOME (or any SQLAlchemy URL), plus FTS5 search."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from lextune.core import audit
from lextune.core.config import Settings, get_settings
from lextune.core import tables_security  # noqa: F401  (registers the security tables on Base)
from lextune.core.tables import Base
from lextune.security.sealed_types import KEYRING_ATTR
from lextune.security.store_keys import load_keyring
from lextune.vault.fts import ensure_fts

# SQLite triggers keep the audit table append-only even against hand-written SQL.
_SQLITE_DDL = [
    """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_events
           BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_events
           BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
]


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
        url = self.settings.db_url
        if url.startswith("sqlite"):
            self.settings.home.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, module=_sqlite_module())
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url)
        Base.metadata.create_all(self.engine)
        add_missing_columns(self.engine)
        if self.is_sqlite:
            with self.engine.begin() as conn:
                for ddl in _SQLITE_DDL:
                    conn.execute(text(ddl))
        ensure_fts(self.engine)
        audit.ensure_head(self.engine)
        # Envelope encryption: this store's data keys, unwrapped by the master key; sealed columns find the
        # keyring on the engine's dialect (one engine per store). No master key, no store: never plaintext.
        self.keyring = load_keyring(self.engine, self.settings)
        setattr(self.engine.dialect, KEYRING_ATTR, self.keyring)
        # Sessions carry the settings so the audit log finds this store's key and anchor.
        self._sessions = sessionmaker(self.engine, expire_on_commit=False,
                                      info={audit.SETTINGS_INFO: self.settings})

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL keeps every commit atomic and the database consistent; a power cut can lose
    # only the last commits (re-running ingest restores them). FULL's fsync per file was 15% of ingest.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def add_missing_columns(engine: Engine) -> list[str]:
    """Add columns that newer lextune tables have and an existing database lacks; keep all rows.

    Only additive changes (new nullable/defaulted columns) are handled here; anything else waits
    for real migrations (Alembic). Returns "table.column" for each column added.
    """
    inspector = inspect(engine)
    added: list[str] = []
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                ddl_type = column.type.compile(dialect=engine.dialect)
                default = column.default.arg if column.default is not None and column.default.is_scalar else None
                clause = ""
                if isinstance(default, bool):
                    clause = f" DEFAULT {int(default)}"
                elif isinstance(default, int | float):
                    clause = f" DEFAULT {default}"
                elif isinstance(default, str):
                    clause = " DEFAULT '" + default.replace("'", "''") + "'"
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {ddl_type}{clause}'))
                added.append(f"{table.name}.{column.name}")
    return added
