"""matches: one index on the fingerprint (with time), not two

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 14:40:00

Every lookup that matches inserts a row into ``matches``, so each index on it is paid on the
request path. ``ix_matches_fingerprint_id`` is a prefix of ``ix_matches_fp_time`` (fingerprint,
time), which serves every query the first one did.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.drop_index("ix_matches_fingerprint_id")


def downgrade() -> None:
    with op.batch_alter_table("matches", schema=None) as batch_op:
        batch_op.create_index("ix_matches_fingerprint_id", ["fingerprint_id"], unique=False)
