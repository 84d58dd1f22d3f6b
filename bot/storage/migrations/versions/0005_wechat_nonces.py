"""WeChat replay guard: the signed requests (timestamp, nonce) seen within the window.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_nonces",
        sa.Column("timestamp", sa.BigInteger(), nullable=False),   # the request's, s UTC
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("message", sa.String(64), nullable=False),       # HMAC of the message key
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),  # UTC
        sa.PrimaryKeyConstraint("timestamp", "nonce", name="pk_wechat_nonces"),
    )
    op.create_index("ix_wechat_nonces_expires_at", "wechat_nonces", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_wechat_nonces_expires_at", table_name="wechat_nonces")
    op.drop_table("wechat_nonces")
