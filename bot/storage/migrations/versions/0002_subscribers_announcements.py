"""Subscribers, announcements and their deliveries (the broadcast feature).

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-15
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),    # "telegram", "wechat"
        sa.Column("chat_id", sa.String(64), nullable=False),    # the channel's chat id
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subscribed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("channel", "chat_id", name="uq_subscribers_channel_chat_id"),
        sa.CheckConstraint("status IN ('active', 'blocked', 'unsubscribed')",
                           name="ck_subscribers_status_valid"),
    )
    op.create_index("ix_subscribers_status", "subscribers", ["status"])
    op.create_table(
        "announcements",
        sa.Column("id", sa.String(100), nullable=False),        # YAML id or "adhoc-<uuid>"
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_fr", sa.Text(), nullable=True),
        sa.Column("text_ar", sa.Text(), nullable=True),
        sa.Column("text_zh", sa.Text(), nullable=True),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),   # UTC
        sa.Column("zone", sa.String(64), nullable=False),       # IANA zone it was written in
        sa.Column("audience", sa.String(16), nullable=True),    # language code; NULL = all
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_announcements"),
        sa.CheckConstraint("status IN ('scheduled', 'sending', 'done', 'cancelled', "
                           "'skipped')", name="ck_announcements_status_valid"),
    )
    op.create_index("ix_announcements_status_send_at", "announcements", ["status", "send_at"])
    op.create_table(
        "deliveries",
        sa.Column("announcement_id", sa.String(100), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),  # lease
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("announcement_id", "subscriber_id", name="pk_deliveries"),
        sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"], ondelete="CASCADE",
                                name="fk_deliveries_announcement_id_announcements"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE",
                                name="fk_deliveries_subscriber_id_subscribers"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed', 'blocked')",
                           name="ck_deliveries_status_valid"),
        sa.CheckConstraint("attempts >= 0", name="ck_deliveries_attempts_not_negative"),
    )
    op.create_index("ix_deliveries_claim", "deliveries",
                    ["announcement_id", "status", "subscriber_id"])
    op.create_index("ix_deliveries_subscriber_id", "deliveries", ["subscriber_id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_subscriber_id", table_name="deliveries")
    op.drop_index("ix_deliveries_claim", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_announcements_status_send_at", table_name="announcements")
    op.drop_table("announcements")
    op.drop_index("ix_subscribers_status", table_name="subscribers")
    op.drop_table("subscribers")
