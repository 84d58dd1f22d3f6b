"""Alembic revisions, hand-written, one file each, numbered 0001, 0002, ..."""
