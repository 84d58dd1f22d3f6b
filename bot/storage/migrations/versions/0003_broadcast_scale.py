"""Broadcasts at scale: unreachable chats, deliveries in doubt, per-chat pacing, the WeChat
48-hour window, a rate bucket shared by every instance, shared channel access tokens.

Revision ID: 0003_broadcast
Revises: 0002
Create Date: 2026-11-30
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_broadcast"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUB_OLD = "status IN ('active', 'blocked', 'unsubscribed')"
_SUB_NEW = "status IN ('active', 'blocked', 'unsubscribed', 'unreachable')"
_DEL_OLD = "status IN ('pending', 'sent', 'failed', 'blocked')"
_DEL_NEW = "status IN ('pending', 'sent', 'failed', 'blocked', 'unreachable', 'in_doubt')"


def upgrade() -> None:
    # batch mode: SQLite cannot alter a CHECK constraint in place (the table is copied)
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_constraint("ck_subscribers_status_valid", type_="check")
        batch.create_check_constraint("ck_subscribers_status_valid", _SUB_NEW)
        batch.add_column(sa.Column("next_send_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.String(500), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("ck_deliveries_status_valid", type_="check")
        batch.create_check_constraint("ck_deliveries_status_valid", _DEL_NEW)
        batch.add_column(sa.Column("in_doubt", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        "rate_buckets",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_rate_buckets"),
    )
    op.create_table(
        "access_tokens",
        sa.Column("app_id", sa.String(64), nullable=False),
        sa.Column("token", sa.String(500), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("app_id", name="pk_access_tokens"),
    )


def downgrade() -> None:
    op.drop_table("access_tokens")
    op.drop_table("rate_buckets")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("in_doubt")
        batch.drop_constraint("ck_deliveries_status_valid", type_="check")
        batch.create_check_constraint("ck_deliveries_status_valid", _DEL_OLD)
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("last_error")
        batch.drop_column("last_seen_at")
        batch.drop_column("next_send_at")
        batch.drop_constraint("ck_subscribers_status_valid", type_="check")
        batch.create_check_constraint("ck_subscribers_status_valid", _SUB_OLD)
