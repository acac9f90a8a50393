"""Report rows carry the noised sum of squared per-user revenue, for revenue uplift intervals.

``revenue_sq`` is the Laplace-noised sum over users of (clipped per-user revenue)^2 in the
row's cell, ``revenue_sq_noise_scale`` its Laplace scale and ``max_contributions`` the
node's per-user contribution bound. All three are nullable: rows from older nodes (and rows
stored before this revision) have none, and the hub keeps accepting them.

Revision ID: r0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revenue_sq", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("revenue_sq_noise_scale", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("max_contributions", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("max_contributions")
        batch_op.drop_column("revenue_sq_noise_scale")
        batch_op.drop_column("revenue_sq")
