"""Reply counts, unanswered questions and knowledge versions.

Revision ID: 0001
Revises:
Create Date: 2025-11-29
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reply_counts",
        sa.Column("day", sa.Date(), nullable=False),            # UTC day
        sa.Column("intent", sa.String(32), nullable=False),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "intent", "lang", name="pk_reply_counts"),
        sa.CheckConstraint("count >= 1", name="ck_reply_counts_count_positive"),
    )
    op.create_table(
        "unanswered_questions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("question", sa.String(500), nullable=False),  # normalised text
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("closest", sa.String(200), nullable=True),    # entry key, "kind:id"
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_unanswered_questions"),
        sa.UniqueConstraint("question", name="uq_unanswered_questions_question"),
        sa.CheckConstraint("count >= 1", name="ck_unanswered_questions_count_positive"),
    )
    op.create_index("ix_unanswered_questions_last_seen", "unanswered_questions",
                    ["last_seen"])
    op.create_table(
        "knowledge_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),    # content hash
        sa.Column("git_commit", sa.String(64), nullable=True),
        sa.Column("trigger", sa.String(200), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_versions"),
        sa.CheckConstraint("errors >= 0", name="ck_knowledge_versions_errors_not_negative"),
    )
    op.create_index("ix_knowledge_versions_loaded_at", "knowledge_versions", ["loaded_at"])


def downgrade() -> None:
    op.drop_index("ix_knowledge_versions_loaded_at", table_name="knowledge_versions")
    op.drop_table("knowledge_versions")
    op.drop_index("ix_unanswered_questions_last_seen", table_name="unanswered_questions")
    op.drop_table("unanswered_questions")
    op.drop_table("reply_counts")
