"""Helpers for tests that edit a copy of the knowledge the way an admin would."""
from __future__ import annotations

from pathlib import Path


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in the file with ``new`` (fails when ``old`` is absent)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str) -> int:
    """Return the 1-based number of the first line of the file containing ``needle``."""
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if needle in line)


# Cai Bin's title, just before his at_forum text, in the bundled people.yaml
CAI_BIN_TITLE = ("    title: {en: Dr., fr: Dr, ar: الدكتور, zh: 医生}\n"
                 "    at_forum:\n      en: Gave the talk on postpartum")


def role_line(role: str) -> str:
    """Return a ``role:`` line in all four languages (the same words: only for tests that
    edit a role and look for it in the answer)."""
    return f"    role: {{en: {role}, fr: {role}, ar: {role}, zh: {role}}}\n"


def give_cai_bin_a_role(people: Path, role: str) -> None:
    """Add a role (every language) to Cai Bin in a copy of people.yaml."""
    edit(people, CAI_BIN_TITLE, CAI_BIN_TITLE.replace("    at_forum:", role_line(role).rstrip("\n")
                                                      + "\n    at_forum:", 1))
