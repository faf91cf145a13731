"""Audit events are append-only, even against hand-written SQL: triggers refuse UPDATE and DELETE.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

SQLite: the triggers lextune always made (IF NOT EXISTS: a database from before migrations has them).
PostgreSQL: a plpgsql trigger function in the store's schema (first on the search_path), also
refusing TRUNCATE. Only the table's owner can disable them (ALTER TABLE ... DISABLE TRIGGER):
run the service as a role that does not own the tables to make that out of its reach.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit_events
           BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit_events
           BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END""",
]
_POSTGRES = [
    """CREATE OR REPLACE FUNCTION lextune_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
       END $$""",
    "DROP TRIGGER IF EXISTS audit_no_update ON audit_events",
    "DROP TRIGGER IF EXISTS audit_no_delete ON audit_events",
    "DROP TRIGGER IF EXISTS audit_no_truncate ON audit_events",
    """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events
           FOR EACH ROW EXECUTE FUNCTION lextune_audit_append_only()""",
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events
           FOR EACH ROW EXECUTE FUNCTION lextune_audit_append_only()""",
    """CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_events
           FOR EACH STATEMENT EXECUTE FUNCTION lextune_audit_append_only()""",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for ddl in _SQLITE if dialect == "sqlite" else _POSTGRES if dialect == "postgresql" else []:
        op.execute(ddl)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    elif dialect == "postgresql":
        for name in ("audit_no_update", "audit_no_delete", "audit_no_truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS lextune_audit_append_only()")
