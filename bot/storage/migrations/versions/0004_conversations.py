"""Conversation state: language preference and the context of the last reply.

Revision ID: 0004
Revises: 0003_broadcast
Create Date: 2026-11-30
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003_broadcast"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("channel", sa.String(32), nullable=False),        # "telegram", "wechat"
        sa.Column("conversation", sa.String(128), nullable=False),  # the channel's key
        sa.Column("language", sa.String(16), nullable=True),        # /language choice
        sa.Column("entry_ids", sa.String(4000), nullable=False),    # space-separated keys
        sa.Column("choice_ids", sa.String(4000), nullable=False),   # space-separated ids
        sa.Column("reply_lang", sa.String(16), nullable=True),      # language of last reply
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),  # UTC
        sa.PrimaryKeyConstraint("channel", "conversation", name="pk_conversations"),
    )
    op.create_index("ix_conversations_updated_at", "conversations", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_conversations_updated_at", table_name="conversations")
    op.drop_table("conversations")
