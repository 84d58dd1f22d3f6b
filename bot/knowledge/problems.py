"""Problems found in the knowledge files, told in words an admin can act on."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in one knowledge file.

    Attributes:
        file: path of the YAML file as given to the loader (str).
        line: 1-based line number, or None when the problem concerns the whole file.
        column: 1-based column number, or None.
        field: dotted path of the field, e.g. ``talks[2].speaker`` (None for file-level).
        message: plain-language explanation with what to do about it.
        severity: ``"error"`` (the version is rejected) or ``"warning"`` (reported only).
    """

    file: str
    line: int | None = None
    column: int | None = None
    field: str | None = None
    message: str = ""
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        what = f" {self.field}:" if self.field else ""
        return f"{where}: {self.severity}:{what} {self.message}"

    def as_dict(self) -> dict[str, object]:
        """Return the problem as a JSON-ready dict with the same keys as the attributes."""
        return {"file": self.file, "line": self.line, "column": self.column,
                "field": self.field, "message": self.message, "severity": self.severity}


class KnowledgeError(Exception):
    """Raised when a knowledge version has errors; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0))
        errors = [p for p in self.problems if p.severity == "error"]
        super().__init__(f"{len(errors)} error(s) in the knowledge files:\n"
                         + "\n".join(str(p) for p in errors))
