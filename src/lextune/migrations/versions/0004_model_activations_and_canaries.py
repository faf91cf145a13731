"""Continuous learning (lextune.registry.rollout): the activation history `models rollback` walks back,
and canaries (a candidate serving a share of a scope's requests).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    schema = op.get_context().version_table_schema
    # A store taken over again after its version table was lost (tests/db/test_migrations.py) has them.
    if not inspector.has_table("model_activations", schema=schema):
        op.create_table('model_activations',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('scope', sa.String(length=64), nullable=False),
        sa.Column('model_version_id', sa.String(length=32), nullable=True),
        sa.Column('previous_version_id', sa.String(length=32), nullable=True),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('undone', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('model_activations', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_model_activations_scope'), ['scope'], unique=False)
    if not inspector.has_table("model_canaries", schema=schema):
        op.create_table('model_canaries',
        sa.Column('scope', sa.String(length=64), nullable=False),
        sa.Column('model_version_id', sa.String(length=32), nullable=False),
        sa.Column('share', sa.Float(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], ),
        sa.PrimaryKeyConstraint('scope')
        )


def downgrade() -> None:
    op.drop_table('model_canaries')
    with op.batch_alter_table('model_activations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_activations_scope'))

    op.drop_table('model_activations')
