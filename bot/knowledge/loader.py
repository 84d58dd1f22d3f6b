"""Load a knowledge folder into one validated :class:`~bot.knowledge.models.Knowledge`.

Every ``*.yaml`` file of the folder is read with the strict loader
(:mod:`bot.knowledge.yamlsafe`); its top-level keys name sections (``event``, ``facts``,
``people``, ``talks``, ``topics``, ``specialties``, ``doctors``, ``emergency``,
``vocabulary``), and a section may be split over several files. All problems of all files
are collected before anything is rejected, so an admin sees every error at once.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from rapidfuzz import fuzz, process

from .models import (
    Doctor,
    Emergency,
    Event,
    Fact,
    Knowledge,
    Person,
    Specialty,
    Talk,
    Topic,
    Translations,
    Vocabulary,
)
from .problems import KnowledgeError, Problem
from .translations import Located, translation_problems
from .yamlsafe import (
    MAX_BYTES,
    FieldPath,
    Positions,
    field_path,
    load_yaml_file,
    position_of,
    read_plain_file,
)

log = logging.getLogger(__name__)
LIST_SECTIONS: dict[str, type[BaseModel]] = {
    "facts": Fact, "people": Person, "talks": Talk, "topics": Topic,
    "specialties": Specialty, "doctors": Doctor,
}
SINGLE_SECTIONS: dict[str, type[BaseModel]] = {
    "event": Event, "emergency": Emergency, "vocabulary": Vocabulary,
    "translations": Translations,
}
# read by the broadcast feature and by forumbot test, not the matcher
IGNORED_FILES = {"announcements.yaml", "tests.yaml"}
MAX_FILES = 200


def knowledge_files(directory: str | Path) -> list[Path]:
    """Return the knowledge YAML files of ``directory`` in name order (``*.yaml``, ``*.yml``)."""
    folder = Path(directory)
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    return [f for f in files if f.name not in IGNORED_FILES and not f.name.startswith(".")]


def content_hash(files: list[Path]) -> str:
    """Return the first 12 hex digits of a SHA-256 over the files' names and bytes.

    Raises:
        OSError: a file cannot be read, or is no longer a plain file (NotPlainFile).
    """
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + read_plain_file(f, MAX_BYTES + 1) + b"\0")
    return digest.hexdigest()[:12]


def _friendly(err: ErrorDetails, model: type[BaseModel]) -> str:
    kind, loc = err["type"], err["loc"]
    name = str(loc[-1]) if loc else ""
    if kind == "missing":
        return f"this entry needs a `{name}` field"
    if kind == "extra_forbidden":
        known = list(model.model_fields) if len(loc) == 1 else []
        guess = process.extractOne(name, known, score_cutoff=70) if known else None
        hint = f" (did you mean `{guess[0]}`?)" if guess else ""
        return f"unknown field `{name}`{hint}; check the spelling or remove it"
    if kind == "string_pattern_mismatch" and name in ("id", "speaker", "practitioner"):
        return ("ids use lowercase letters, digits and hyphens only (like `cai-bin`), "
                f"got {err.get('input')!r}")
    if kind == "string_type":
        return f"expected text, got {err.get('input')!r}; put the value in quotes"
    if kind == "literal_error":
        return f"{err['msg']} (got {err.get('input')!r})"
    return f"{err['msg']} (got {err.get('input')!r})" if "input" in err else err["msg"]


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # validated entries per list section; every list section's model has an `id`
        self.sections: dict[str, list[Any]] = {name: [] for name in LIST_SECTIONS}
        self.singles: dict[str, BaseModel] = {}
        self.where: dict[tuple[str, str], tuple[str, int | None, int | None, str]] = {}
        self.empty_targets: set[str] = set()
        self.unreadable = False  # a file could not be parsed: its ids are unknown
        self.paths: dict[tuple[str, str], tuple[Positions, FieldPath]] = {}  # entry -> positions, path

    def error(self, file: str | Path, line: int | None, column: int | None, field: str | None,
              message: str) -> None:
        self.problems.append(Problem(str(file), line, column, field, message))

    def validate(self, model: type[BaseModel], value: object, file: str | Path, positions: Positions,
                 path: FieldPath) -> BaseModel | None:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            told = {(p.file, p.line, p.column) for p in self.problems}
            for err in exc.errors():
                full = path + tuple(err["loc"])
                line, col = position_of(positions, full)
                if (str(file), line, col) in told:
                    continue  # the YAML check already explained this value (a trap)
                self.error(file, line, col, field_path(full), _friendly(err, model))
            return None

    def read(self, path: Path) -> None:
        loaded = load_yaml_file(path)
        self.problems.extend(loaded.problems)
        data, positions = loaded.data, loaded.positions
        if data is None:
            self.unreadable |= any(p.severity == "error" for p in loaded.problems)
            return
        if not isinstance(data, dict):
            self.error(path, 1, 1, None, "a knowledge file must be a list of sections "
                       "like `people:` or `talks:` at the left margin")
            return
        for section, value in data.items():
            line, col = position_of(positions, (section, "__key__"))
            if section in SINGLE_SECTIONS:
                if section in self.singles:
                    self.error(path, line, col, section, f"`{section}` is already defined in "
                               f"{self.where[(section, '')][0]}; keep only one")
                    continue
                entry = self.validate(SINGLE_SECTIONS[section], value, path, positions, (section,))
                if entry is not None:
                    self.singles[section] = entry
                    self.where[(section, "")] = (str(path), line, col, section)
                    self.paths[(section, "")] = (positions, (section,))
            elif section in LIST_SECTIONS:
                self._read_list(section, value, path, positions)
            else:
                known = [*LIST_SECTIONS, *SINGLE_SECTIONS]
                guess = process.extractOne(str(section), known, score_cutoff=60)
                hint = f" (did you mean `{guess[0]}`?)" if guess else ""
                self.error(path, line, col, str(section),
                           f"unknown section `{section}`{hint}; known: {', '.join(known)}")

    def _read_list(self, section: str, value: object, path: Path, positions: Positions) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            line, col = position_of(positions, (section,))
            self.error(path, line, col, section,
                       f"`{section}` must be a list: start each entry with `- ` on a new line")
            return
        model = LIST_SECTIONS[section]
        for i, item in enumerate(value):
            # every list section's model has an `id` (an EntryId)
            entry: Any = self.validate(model, item, path, positions, (section, i))
            if entry is None:
                continue
            line, col = position_of(positions, (section, i))
            known = self.where.get((section, entry.id))
            if known:
                self.error(path, line, col, f"{section}[{i}].id",
                           f"the id `{entry.id}` is used twice (also {known[0]}:{known[1]}); "
                           "ids must be unique")
                continue
            self.where[(section, entry.id)] = (str(path), line, col, f"{section}[{i}]")
            self.paths[(section, entry.id)] = (positions, (section, i))
            self.sections[section].append(entry)

    def ref(self, section: str, entry_id: str, field: str, target: str, value: str,
            index: int | None = None) -> None:
        """Report ``value`` (in ``field``, item ``index`` of a list) when no ``target``
        entry has that id, at the value's own line and column."""
        if (target, value) in self.where or target in self.empty_targets:
            return
        file, _, _, base = self.where[(section, entry_id)]
        positions, path = self.paths[(section, entry_id)]
        where = path + ((field,) if index is None else (field, index))
        line, col = position_of(positions, where)
        known = [key[1] for key in self.where if key[0] == target]
        guess = process.extractOne(value, known, scorer=fuzz.ratio, score_cutoff=75)
        hint = f" (did you mean `{guess[0]}`?)" if guess else ""
        name = f"{base}.{field}" + (f"[{index}]" if index is not None else "")
        self.error(file, line, col, name,
                   f"`{value}` is not the id of any entry in `{target}`{hint}")

    def cross_check(self, folder: Path) -> None:
        s = self.sections
        # a whole section missing (an emptied or deleted people.yaml) is one error, not one
        # per reference to it
        used = {"people": s["talks"] or s["doctors"], "topics": s["talks"],
                "specialties": s["doctors"]}
        self.empty_targets = {t for t, users in used.items() if users and not s[t]}
        for target in sorted(self.empty_targets):
            self.error(folder, None, None, target, f"no `{target}:` entries are defined, but "
                       f"other entries refer to them: is {target}.yaml empty or missing?")
        for talk in s["talks"]:
            self.ref("talks", talk.id, "speaker", "people", talk.speaker)
            for i, t in enumerate(talk.topics):
                self.ref("talks", talk.id, "topics", "topics", t, i)
        for doc in s["doctors"]:
            self.ref("doctors", doc.id, "practitioner", "people", doc.practitioner)
            for i, sp in enumerate(doc.specialty):
                self.ref("doctors", doc.id, "specialty", "specialties", sp, i)
            for i, t in enumerate(doc.conditions):
                self.ref("doctors", doc.id, "conditions", "topics", t, i)
        for topic in s["topics"]:
            for i, t in enumerate(topic.broader):
                self.ref("topics", topic.id, "broader", "topics", t, i)
        for fact in s["facts"]:
            for i, p in enumerate(fact.people):
                self.ref("facts", fact.id, "people", "people", p, i)
            if fact.answer is None and fact.answer_from is None and not fact.unknown:
                file, line, col, base = self.where[("facts", fact.id)]
                self.error(file, line, col, f"{base}.answer",
                           "this fact needs an `answer` (or `answer_from: date`, or "
                           "`unknown: true` when the article does not give it)")

    def check_translations(self) -> None:
        """Every user-visible text in all four languages (bot.knowledge.translations)."""
        policy = self.singles.get("translations")
        english_first = isinstance(policy, Translations) and policy.english_first
        located: list[Located] = []
        for section in ("event", "emergency", "vocabulary"):
            if section in self.singles:
                located.append((self.where[(section, "")][0], *self.paths[(section, "")],
                                self.singles[section]))
        for section, entries in self.sections.items():
            for entry in entries:
                located.append((self.where[(section, entry.id)][0],
                                *self.paths[(section, entry.id)], entry))
        self.problems.extend(translation_problems(located, english_first))


def check_knowledge(directory: str | Path, *, warnings: bool = True,
                    checks: Callable[[Any], list[Problem]] | None = None,
                    ) -> tuple[Knowledge | None, list[Problem]]:
    """Load and validate a knowledge folder without raising.

    Args:
        directory: folder holding the ``*.yaml`` files.
        warnings: also compute the warnings of :mod:`bot.knowledge.warnings` (shared
            aliases, entries their own name does not reach, missing translations) when
            the knowledge is valid; they never make it invalid.
        checks: more checks of a valid version, called with the
            :class:`~bot.core.engine.Assistant` built for the warnings (built once for
            both); an error among the problems it returns makes the version invalid
            (``forumbot check`` passes the admins' test questions here).
    Returns:
        ``(knowledge, problems)``: knowledge is None when any problem is an error; problems
        (errors and warnings) are sorted by file, line and column.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return None, [Problem(str(folder), message="the knowledge folder does not exist")]
    files = knowledge_files(folder)
    if not files:
        return None, [Problem(str(folder), message="no .yaml files in the knowledge folder")]
    if len(files) > MAX_FILES:
        return None, [Problem(str(folder), message=f"more than {MAX_FILES} YAML files")]
    c = _Collector()
    for f in files:
        c.read(f)
    for name in ("event", "emergency"):
        if name not in c.singles and not any(p.severity == "error" for p in c.problems):
            c.error(folder, None, None, name, f"no file defines the `{name}:` section")
    if not c.unreadable:  # else every reference into the unreadable file would be an error
        c.cross_check(folder)
    c.check_translations()
    problems = sorted(c.problems, key=lambda p: (p.file, p.line or 0, p.column or 0))
    if any(p.severity == "error" for p in problems):
        return None, problems
    try:
        version = content_hash(files)
    except OSError as exc:  # a file replaced since it was read (by a pipe, or deleted)
        return None, [Problem(str(folder), message=f"a file changed while being read ({exc}); "
                              "try again")]
    knowledge = Knowledge(**c.singles, **c.sections, version=version)
    if warnings or checks:
        from bot.core.engine import Assistant  # the core imports the models: import late
        assistant = Assistant(knowledge)
        if warnings:
            problems += _warnings(knowledge, c, assistant)
        if checks:
            problems += checks(assistant)
        problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or 0))
        if any(p.severity == "error" for p in problems):
            return None, problems
    return knowledge, problems


def _warnings(knowledge: Knowledge, c: _Collector, assistant: Any) -> list[Problem]:
    """The warnings of :mod:`bot.knowledge.warnings`; a fault there never stops a load."""
    from .warnings import warnings_for  # it uses the core, which imports the models
    places = {key: (c.where[key][0], *c.paths[key]) for key in c.paths}
    try:
        return warnings_for(knowledge, places, assistant)
    except Exception as exc:  # noqa: BLE001 - warnings are advice: the knowledge is valid
        log.exception("the knowledge warnings could not be computed")
        return [Problem("-", message=f"the extra checks (warnings) failed: {exc!r}",
                        severity="warning")]


def load_knowledge(directory: str | Path) -> Knowledge:
    """Return the validated knowledge of ``directory``.

    Raises:
        KnowledgeError: with every problem, when any of them is an error.
    """
    knowledge, problems = check_knowledge(directory, warnings=False)  # only errors matter
    if knowledge is None:
        raise KnowledgeError(problems)
    return knowledge
