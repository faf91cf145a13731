"""Alembic environment: runs on the connection the store passes in, or opens the store the settings name."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.types import TypeDecorator

from lextune.core import tables_review, tables_security  # noqa: F401  (registers their tables on Base)
from lextune.core.tables import Base
from lextune.migrations import CONNECTION, SCHEMA

config = context.config


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    # Sealed columns are plain Text in the database: revisions must not import lextune's column types.
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{type(obj.impl).__name__}()"
    return False


def _include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    # Tables the models do not declare (the FTS index, alembic_version in a tenant's schema) are not
    # autogenerate's business; dropping a model table is written by hand.
    return not (type_ == "table" and reflected and compare_to is None)


def _run(connection: Any, schema: str | None) -> None:
    schema = schema if connection.dialect.name != "sqlite" else None
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table_schema=schema,
        # SQLite cannot alter columns in place: autogenerate writes batch (copy-and-move) operations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_object=_include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_from_settings() -> None:
    from lextune.core.config import get_settings
    from lextune.core.store import make_engine, store_schema
    from lextune.migrations.runner import has_premigration_tables

    settings = get_settings()
    engine = make_engine(settings)
    try:
        with engine.begin() as connection:
            if has_premigration_tables(connection, store_schema(engine, settings)):
                raise SystemExit("this database is from before migrations: open it with lextune first (any "
                                 "command), which takes it over keeping its rows (docs/database.md)")
            _run(connection, settings.database_schema)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: run them against a database")
if config.attributes.get(CONNECTION) is not None:
    _run(config.attributes[CONNECTION], config.attributes.get(SCHEMA))
else:
    _run_from_settings()
