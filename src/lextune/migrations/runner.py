"""Run the migrations on a store's engine: `alembic upgrade head`, taking over a database from before them."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Connection, Engine, inspect, text

from lextune.core.tables import Base
from lextune.migrations import BASELINE, SCRIPT_LOCATION, alembic_config


@cache
def _script_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory(str(SCRIPT_LOCATION)).get_heads())


def _current_heads(conn: Connection, schema: str | None) -> frozenset[str]:
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
    return frozenset(ctx.get_current_heads())


def migrate(engine: Engine, schema: str | None = None) -> bool:
    """Bring the store's schema to the newest revision (`alembic upgrade head`), in one transaction.

    A database lextune made before migrations (tables, no alembic_version) is first brought to the
    baseline revision, which keeps its tables and rows and adds what they lack; True when that happened.
    """
    with engine.connect() as conn:
        if _current_heads(conn, schema) == _script_heads():
            return False  # the common case: one SELECT
    from alembic import command

    with engine.begin() as conn:
        _lock_for_migration(conn, schema)
        current = _current_heads(conn, schema)  # another process may have migrated while we waited
        if current == _script_heads():
            return False
        adopt = not current and has_premigration_tables(conn, schema)
        if adopt:
            command.upgrade(alembic_config(conn, schema, adopt=True), BASELINE)
        command.upgrade(alembic_config(conn, schema), "head")
    return adopt


def _lock_for_migration(conn: Connection, schema: str | None) -> None:
    # Two processes opening a new store at once must not both create its tables.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"lextune-migrate:{schema or ''}"})
    elif conn.dialect.name == "sqlite":
        # pysqlite leaves DDL outside a transaction; an IMMEDIATE one takes the write lock (and makes DDL atomic).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def has_premigration_tables(conn: Connection, schema: str | None) -> bool:
    """True for a database lextune made before migrations: its tables, no alembic_version."""
    tables = set(inspect(conn).get_table_names(schema=schema))
    return "alembic_version" not in tables and bool(tables & set(Base.metadata.tables))
