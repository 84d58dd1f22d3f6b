"""The admins' test questions (``knowledge/tests.yaml``): what each question must get.

A test question names what a correct reply must contain: an ``expect``ed entry (the reply's
``ids`` must hold every key listed, like ``person:cai-bin``), an ``intent`` (``emergency``,
``fallback`` or any other intent of :data:`bot.core.types.INTENTS`), or both, and
optionally the ``lang`` the reply must be written in. The file is read with the strict
YAML loader, so every mistake comes back as a :class:`Problem` with its line and column.

tests.yaml is not knowledge: the loader skips it (see ``loader.IGNORED_FILES``), and its
content does not change the knowledge version.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from .problems import Problem
from .refs import ENTRY_KINDS, SEPARATOR
from .yamlsafe import field_path, load_yaml_file, position_of

TESTS_FILE = "tests.yaml"
EntryKey = Annotated[str, StringConstraints(
    pattern=rf"^({'|'.join(ENTRY_KINDS)}){SEPARATOR}[a-z0-9][a-z0-9-]{{0,47}}$")]
# the intents of bot.core.types.INTENTS (a test keeps them equal; the core is not imported here)
TestIntent = Literal["greeting", "help", "event", "session", "speaker", "doctor", "emergency",
                     "health", "fallback", "smalltalk"]


class TestQuestion(BaseModel):
    """One admin test question and what its reply must show.

    Attributes:
        q: the question, as a user would type it (1-500 characters).
        expect: an entry key ("kind:id") or a list of them: all must be among the reply's
            ids (see :attr:`keys`).
        intent: the intent the reply must have.
        lang: the language the reply must be written in (en, fr, ar, zh).
        note: why this question is here (for other admins; not checked).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    expect: EntryKey | list[EntryKey] = []
    intent: TestIntent | None = None
    lang: Literal["en", "fr", "ar", "zh"] | None = None
    note: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The expected entry keys as a tuple (``expect`` may be one key or a list)."""
        return (self.expect,) if isinstance(self.expect, str) else tuple(self.expect)

    @model_validator(mode="after")
    def _says_something(self) -> TestQuestion:
        if not self.expect and self.intent is None:
            raise ValueError("give what the reply must get: `expect: person:cai-bin` (an entry) "
                             "or `intent: emergency` / `intent: fallback`")
        return self


class TestsFile(BaseModel):
    """The whole tests.yaml: a ``tests:`` list (shape of its JSON Schema)."""

    model_config = ConfigDict(extra="forbid")

    tests: list[TestQuestion] = Field(default_factory=list)


@dataclass(frozen=True)
class LoadedTests:
    """Test questions read from one folder.

    Attributes:
        questions: the valid questions, in file order, with their line (1-based, or None).
        problems: every problem of the file (errors: the broken question is left out).
        file: path of tests.yaml (it may not exist: then questions is empty).
    """

    questions: list[tuple[TestQuestion, int | None]]
    problems: list[Problem]
    file: Path


def load_tests(directory: str | Path) -> LoadedTests:
    """Read ``<directory>/tests.yaml``; never raises for bad content.

    Args:
        directory: a knowledge folder.
    Returns:
        :class:`LoadedTests`; a missing file gives no questions and no problem (a folder
        without tests is valid, the checks simply have nothing to run).
    """
    path = Path(directory) / TESTS_FILE
    if not path.is_file():
        return LoadedTests([], [], path)
    loaded = load_yaml_file(path)
    problems = list(loaded.problems)
    data = loaded.data
    if data is None:
        return LoadedTests([], problems, path)
    if not isinstance(data, dict) or set(data) - {"tests"}:
        line: int | None = 1
        col: int | None = 1
        if isinstance(data, dict):
            line, col = position_of(loaded.positions, (next(k for k in data if k != "tests"),
                                                       "__key__"))
        problems.append(Problem(str(path), line, col, None,
                                "tests.yaml holds one section, `tests:`, a list of questions"))
        return LoadedTests([], problems, path)
    items = data.get("tests") or []
    if not isinstance(items, list):
        line, col = position_of(loaded.positions, ("tests",))
        problems.append(Problem(str(path), line, col, "tests",
                                "`tests` must be a list: start each question with `- q:`"))
        return LoadedTests([], problems, path)
    questions: list[tuple[TestQuestion, int | None]] = []
    for i, item in enumerate(items):
        try:
            question = TestQuestion.model_validate(item)
        except ValueError as exc:  # pydantic's ValidationError
            for err in exc.errors():  # type: ignore[attr-defined]
                if err["type"] == "list_type" and err["loc"][:1] == ("expect",):
                    continue  # `expect` is one key or a list: the key's own error says more
                # loc names union members ("expect", "str"): keep the field and list indexes
                loc = [part for part in err["loc"] if isinstance(part, int) or
                       part in TestQuestion.model_fields]
                where = ("tests", i, *loc)
                line, col = position_of(loaded.positions, where)
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "string_pattern_mismatch":
                    msg = (f"{err.get('input')!r} is not an entry key: write the kind and the "
                           "id, like person:cai-bin, talk:talk-preeclampsia, doctor:dr-cai-bin")
                elif err["type"] == "extra_forbidden":
                    msg = (f"unknown field `{err['loc'][-1]}`; a question has q, expect, intent, "
                           "lang and note")
                problems.append(Problem(str(path), line, col, field_path(where), msg))
            continue
        questions.append((question, position_of(loaded.positions, ("tests", i))[0]))
    return LoadedTests(questions, problems, path)


__all__ = ["TESTS_FILE", "TestQuestion", "TestsFile", "LoadedTests", "load_tests"]
