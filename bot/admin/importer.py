"""Import a doctor directory (rows from CSV or FHIR) into a knowledge folder, all or nothing.

What the import writes:

- ``doctors.yaml``: the specialties as they are, the hand-written listings (those not
  imported before) and one listing per imported clinician (``source`` starts with
  ``import:``); listings imported earlier and absent from the new file are removed (the
  hospital's directory is the source of its own listings);
- ``directory-people.yaml``: the people of the imported listings. A clinician whose id is
  already a person of another file (a forum speaker) is not duplicated: the listing points
  at that person. Aliases an admin added by hand to an imported person are kept on
  re-import, like any field the source does not give.

A bad file changes nothing: the new files are written into a copy of the folder, the copy is
checked like ``forumbot check`` does (including the test questions), and only then are the
files moved into the folder (each with one atomic rename, people first).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ValidationError

from bot.core.normalize import normalize
from bot.knowledge.loader import load_knowledge
from bot.knowledge.models import AvailableTime, Doctor, Knowledge, Person, Telecom
from bot.knowledge.problems import KnowledgeError, Problem

from .directory import Rejected, Row

PEOPLE_FILE = "directory-people.yaml"
DOCTORS_FILE = "doctors.yaml"
IMPORT_MARK = "import:"
MAX_ID = 45  # ids are at most 48 characters; "dr-" is added to the person id
LANGUAGE_NAMES = {
    "english": "en", "anglais": "en", "英语": "en", "الإنجليزية": "en",
    "french": "fr", "français": "fr", "francais": "fr", "法语": "fr", "الفرنسية": "fr",
    "arabic": "ar", "arabe": "ar", "阿拉伯语": "ar", "العربية": "ar", "darija": "ar",
    "chinese": "zh", "mandarin": "zh", "chinois": "zh", "中文": "zh", "汉语": "zh",
    "الصينية": "zh", "spanish": "es", "espagnol": "es", "español": "es",
    "amazigh": "ber", "tamazight": "ber", "berber": "ber", "berbère": "ber",
}
IMPORT_NOTE = (f"# Listings with `source: \"{IMPORT_MARK} ...\"` are written by `forumbot import "
               "doctors`: change them in the hospital's directory and import again.")
_LANG_CODE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{3,30}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://\S+$")


@dataclass
class ImportReport:
    """What an import did, or would have done.

    Attributes:
        rejected: every row not imported, with its line and reason.
        notes: rows imported with a part left out (an unknown condition), with the reason.
        added, updated, removed: listing ids added, changed and removed.
        problems: errors ``forumbot check`` found in the would-be folder (then nothing
            was written).
        written: the files replaced in the folder (empty when nothing changed).
    """

    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the folder was updated (or already matched the file)."""
        return not self.problems

    def lines(self) -> list[str]:
        """The report for the admin: rejected rows, notes, then a summary line."""
        out = [f"rejected {r}" for r in self.rejected] + [f"note: {n}" for n in self.notes]
        out += [str(p) for p in self.problems]
        if self.problems:
            out.append(f"NOTHING CHANGED: the imported folder would have {len(self.problems)} "
                       "error(s) (above); fix the file and import again")
        else:
            out.append(f"{len(self.added)} added, {len(self.updated)} updated, "
                       f"{len(self.removed)} removed, {len(self.rejected)} rejected"
                       + ("" if self.written else "; the folder already matched the file"))
        return out


def slug(text: str) -> str:
    """Return an id made from a name: lowercase ASCII letters, digits and hyphens, at most
    MAX_ID characters ("" when the name has no Latin letters or digits)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:MAX_ID].strip("-")


class _Vocabulary:
    """Finds specialties and topics by id or by any of their names, in any language."""

    def __init__(self, k: Knowledge):
        self.specialties = self._names({s.id: [s.id, s.name, *s.names.all()]
                                        for s in k.specialties})
        self.topics = self._names({t.id: [t.id, t.name, *t.names.all()] for t in k.topics})
        self.known = ", ".join(f"{s.id} ({s.name})" for s in k.specialties)

    @staticmethod
    def _names(by_id: dict[str, list[str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for entry_id, names in by_id.items():
            for name in names:
                out.setdefault(normalize(name), entry_id)
        return out


def _listing(row: Row, vocab: _Vocabulary, notes: list[str]) -> tuple[Person, Doctor]:
    """Turn one row into its person and listing; ValueError(reason) rejects the row."""
    if not row.name:
        raise ValueError("no name")
    person_id = row.person_id or slug(row.name)
    if not person_id:
        raise ValueError(f"no id can be made from the name {row.name!r}: give an `id` "
                         "(lowercase letters, digits, hyphens)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,44}", person_id):
        raise ValueError(f"the id {person_id!r} must be lowercase letters, digits and hyphens "
                         f"(at most {MAX_ID} characters)")
    if not row.specialties:
        raise ValueError("no specialty")
    specialties = []
    for text in row.specialties:
        found = vocab.specialties.get(normalize(text))
        if found is None:
            raise ValueError(f"unknown specialty {text!r}: use one of {vocab.known}, or add "
                             "it to the specialties of doctors.yaml (with its names in fr, "
                             "ar, zh) before importing")
        specialties.append(found)
    conditions = []
    for text in row.conditions:
        found = vocab.topics.get(normalize(text))
        if found is None:
            notes.append(f"{row.where}: condition {text!r} is not a topic of topics.yaml; "
                         "it was left out (add the topic, or a name to it, and import again)")
        else:
            conditions.append(found)
    languages = []
    for text in row.languages:
        code = text if _LANG_CODE.match(text) else LANGUAGE_NAMES.get(text.lower())
        if code is None:
            raise ValueError(f"unknown language {text!r}: write codes like en, fr, ar, zh")
        languages.append(code)
    telecom = []
    for system, values, pattern in (("phone", row.phones, _PHONE), ("email", row.emails, _EMAIL),
                                    ("url", row.urls, _URL)):
        for value in values:
            if not pattern.match(value):
                raise ValueError(f"{system} {value!r} is not a valid {system}")
            telecom.append(Telecom(system=system, value=value,
                                   use="work" if system == "phone" else None))
    try:
        times = [AvailableTime(days=d, start=s, end=e) for d, s, e in row.available]
        person = Person(id=person_id, name=row.name, title=row.title,
                        aliases=list(dict.fromkeys(a for a in row.aliases if a != row.name)))
        doctor = Doctor(id=f"dr-{person_id}", practitioner=person_id,
                        specialty=list(dict.fromkeys(specialties)),
                        conditions=list(dict.fromkeys(conditions)),
                        communication=list(dict.fromkeys(languages)),
                        qualification=row.qualifications, organization=row.institution,
                        location=row.city, telecom=telecom, available_times=times,
                        source=f"{IMPORT_MARK} {row.source}" if row.source else IMPORT_MARK)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, err['loc']))}: {err['msg']}") from None
    return person, doctor


def _imported(doctor: Doctor) -> bool:
    return (doctor.source or "").startswith(IMPORT_MARK)


def _merge_person(new: Person, old: Person | None) -> Person:
    """The imported person, keeping what the admin wrote by hand: aliases (all of them) and
    every field the source leaves empty."""
    if old is None:
        return new
    data = old.model_dump(exclude_defaults=True)
    data.update(new.model_dump(exclude_defaults=True, exclude={"aliases"}))
    data["aliases"] = list(dict.fromkeys([*old.aliases, *new.aliases]))
    return Person.model_validate(data)


def plan(folder: Path, rows: list[Row], rejected: list[Rejected]
         ) -> tuple[ImportReport, list[Person], list[Doctor]]:
    """Match the rows to the folder's knowledge; return the report (without check problems),
    the people of directory-people.yaml and every listing of doctors.yaml.

    Raises:
        KnowledgeError: when the folder itself has errors (fix it before importing).
    """
    k = load_knowledge(folder)
    vocab = _Vocabulary(k)
    report = ImportReport(rejected=list(rejected))
    own_people = _people_of(folder / PEOPLE_FILE)
    other_people = {p.id for p in k.people if p.id not in own_people}
    seen: dict[str, str] = {}
    people: dict[str, Person] = {}
    listings: dict[str, Doctor] = {}
    for row in rows:
        try:
            person, doctor = _listing(row, vocab, report.notes)
        except ValueError as exc:
            report.rejected.append(Rejected(row.line, row.where, str(exc)))
            continue
        if person.id in seen:
            report.rejected.append(Rejected(row.line, row.where, f"the id {person.id!r} is "
                                            f"already used by {seen[person.id]}; give this row "
                                            "its own `id`"))
            continue
        seen[person.id] = row.where
        if person.id not in other_people:  # a speaker of the forum keeps its own entry
            people[person.id] = _merge_person(person, own_people.get(person.id))
        listings[doctor.id] = doctor
    old = {d.id: d for d in k.doctors}
    kept = [d for d in k.doctors if not _imported(d) and d.id not in listings]
    report.added = [i for i in listings if i not in old]
    report.updated = [i for i in listings if i in old and old[i] != listings[i]]
    report.removed = [d.id for d in k.doctors if _imported(d) and d.id not in listings]
    # hand-written listings pointing at an imported person keep that person
    needed = {d.practitioner for d in kept}
    people.update({pid: p for pid, p in own_people.items() if pid in needed and pid not in people})
    report.rejected.sort(key=lambda r: (r.line or 0))
    return report, sorted(people.values(), key=lambda p: p.id), [*kept, *listings.values()]


def _people_of(path: Path) -> dict[str, Person]:
    if not path.is_file():
        return {}
    from bot.knowledge.yamlsafe import load_yaml_file
    data = load_yaml_file(path).data
    items = data.get("people") if isinstance(data, dict) else None
    out = {}
    for item in items or []:
        try:
            person = Person.model_validate(item)
        except ValidationError:
            continue  # the folder loaded, so this cannot happen; never fail the import on it
        out[person.id] = person
    return out


def run_import(folder: str | Path, rows: list[Row], rejected: list[Rejected],
               check: Callable[[Path], list[Problem]], *, dry_run: bool = False
               ) -> ImportReport:
    """Import ``rows`` into ``folder``: plan, write into a copy, ``check`` the copy, replace.

    Args:
        folder: the knowledge folder.
        rows, rejected: what the reader of the source file gave.
        check: returns the problems of a folder (``forumbot check``'s: loader errors and
            the test questions); any error leaves ``folder`` untouched.
        dry_run: check only, write nothing.
    Returns:
        the :class:`ImportReport`.
    Raises:
        KnowledgeError: when ``folder`` has errors before the import.
    """
    folder = Path(folder)
    report, people, doctors = plan(folder, rows, rejected)
    if not report.added and not report.updated and not any(_imported(d) for d in doctors):
        if rows or rejected:  # an unreadable or wholly rejected file is not an empty directory
            report.problems = [Problem("-", message="no row of the file could be imported")]
        return report
    texts = {PEOPLE_FILE: people_yaml(people),
             DOCTORS_FILE: doctors_yaml(folder / DOCTORS_FILE, load_knowledge(folder), doctors)}
    changed = {name: text for name, text in texts.items()
               if not (folder / name).is_file()
               or (folder / name).read_text(encoding="utf-8") != text}
    if not changed:
        return report
    with tempfile.TemporaryDirectory(prefix="forumbot-import-") as tmp:
        trial = Path(tmp) / "knowledge"
        shutil.copytree(folder, trial, ignore=shutil.ignore_patterns(".*"))
        for name, text in changed.items():
            (trial / name).write_text(text, encoding="utf-8")
        report.problems = [p for p in check(trial) if p.severity == "error"]
    if report.problems or dry_run:
        return report
    for name in (PEOPLE_FILE, DOCTORS_FILE):  # people first: listings never point nowhere
        if name in changed:
            _replace(folder / name, changed[name])
            report.written.append(folder / name)
    return report


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with one atomic rename (readers see old or new, whole)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- YAML writing: every text double-quoted (JSON strings are valid YAML), so no value can
# fall into a YAML trap (09:30, no, 0612, +212) -------------------------------------------
_PLAIN = re.compile(r"[a-z][a-z0-9-]*")  # ids and codes: safe without quotes
_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def _scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and _PLAIN.fullmatch(value) and value not in _WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def _block(value: dict, indent: int) -> list[str]:
    pad = " " * indent
    out = []
    for key, item in value.items():
        if isinstance(item, dict):
            out += [f"{pad}{key}:", *_block(item, indent + 2)]
        elif isinstance(item, list) and any(isinstance(i, dict) for i in item):
            out.append(f"{pad}{key}:")
            for i in item:
                first, *rest = _block(i, indent + 4)
                out += [f"{pad}  - {first.lstrip()}", *rest]
        elif isinstance(item, list):
            out.append(f"{pad}{key}: [{', '.join(_scalar(i) for i in item)}]")
        else:
            out.append(f"{pad}{key}: {_scalar(item)}")
    return out


def _entries(section: str, entries: list[BaseModel]) -> list[str]:
    out = [f"{section}:"]
    for entry in entries:
        first, *rest = _block(entry.model_dump(exclude_defaults=True, mode="json"), 4)
        out += [f"  - {first.lstrip()}", *rest, ""]
    return out


def people_yaml(people: list[Person]) -> str:
    """The text of directory-people.yaml."""
    head = ["# yaml-language-server: $schema=schemas/people.schema.json",
            "# People of the imported doctor directory, written by `forumbot import doctors`.",
            "# You may add aliases (and fields the directory does not give): a re-import keeps",
            "# them. Names, titles and institutions come from the directory: change them there."]
    return "\n".join([*head, *_entries("people", list(people))]).rstrip() + "\n"


def doctors_yaml(path: Path, k: Knowledge, doctors: list[Doctor]) -> str:
    """The text of doctors.yaml: its first comment lines kept, the specialties as loaded,
    then every listing."""
    head = ["# yaml-language-server: $schema=schemas/doctors.schema.json"]
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        comments = [line for line in _leading(lines) if line != head[0]]
        head += comments
    if IMPORT_NOTE not in head:
        head.append(IMPORT_NOTE)
    body = [*_entries("specialties", list(k.specialties)), *_entries("doctors", list(doctors))]
    return "\n".join([*head, *body]).rstrip() + "\n"


def _leading(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        if not line.startswith("#"):
            break
        out.append(line)
    return out


__all__ = ["DOCTORS_FILE", "PEOPLE_FILE", "ImportReport", "plan", "run_import", "slug",
           "people_yaml", "doctors_yaml", "KnowledgeError"]


def read_file(path: str | Path, folder: str | Path) -> tuple[list[Row], list[Rejected]]:
    """Read a directory file: a FHIR Bundle (JSON: ``.json`` or text starting with ``{``)
    or a CSV, matching FHIR concepts against the specialties and topics of ``folder``.

    Raises:
        OSError: when the file cannot be read; KnowledgeError: when the folder has errors.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        return [], [Rejected(line, f"line {line}", "the file is not UTF-8: export it as UTF-8")]
    source = path.name
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        from . import fhir
        vocab = _Vocabulary(load_knowledge(folder))
        specialty_ids = set(vocab.specialties.values())
        topic_ids = set(vocab.topics.values())

        def is_specialty(system: str | None, text: str) -> bool:
            if system == fhir.SPECIALTY_SYSTEM:
                return text in specialty_ids
            return system is None and normalize(text) in vocab.specialties

        def is_topic(system: str | None, text: str) -> bool:
            if system == fhir.TOPIC_SYSTEM:
                return text in topic_ids
            return system is None and normalize(text) in vocab.topics
        return fhir.read_bundle(text, source, is_specialty, is_topic)
    from .directory import read_csv
    return read_csv(text, source)
