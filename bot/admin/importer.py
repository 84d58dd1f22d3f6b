"""Import a doctor directory (rows from CSV or FHIR) into a knowledge folder, all or nothing.

What the import writes:

- ``directory-01.yaml``, ``directory-02.yaml`` ...: the imported people and their listings
  (``source`` starts with ``import:``), 1,000 clinicians per file (a knowledge file is
  capped at 2,000,000 characters). Listings imported earlier and absent from the new file
  are removed: the hospital's directory is the source of its own listings. A clinician
  whose id is already a person of another file (a forum speaker) is not duplicated: the
  listing points at that person. Aliases an admin added by hand to an imported person are
  kept on re-import, like any field the source does not give;
- ``doctors.yaml`` (the specialties and the hand-written listings) only when an imported
  listing replaces a hand-written one of the same id.

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
from bot.knowledge.models import (
    TRANSLATED_FIELDS,
    AvailableTime,
    Doctor,
    Knowledge,
    LocalizedMap,
    Person,
    Telecom,
)
from bot.knowledge.problems import KnowledgeError, Problem

from .directory import Rejected, Row

DIRECTORY_GLOB = "directory-[0-9][0-9].yaml"
CHUNK = 1000  # clinicians per directory file (a knowledge file holds at most 2,000,000 characters)
DOCTORS_FILE = "doctors.yaml"
IMPORT_MARK = "import:"
MAX_SHOWN = 30  # check errors listed in a report
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
        out += [str(p) for p in self.problems[:MAX_SHOWN]]
        if len(self.problems) > MAX_SHOWN:
            out.append(f"... and {len(self.problems) - MAX_SHOWN} more error(s)")
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


class _Translator:
    """Gives imported text its four languages: from the row's own translation columns, else
    from a text the knowledge already translates (a title "Dr.", an institution), else
    plain text (English only: the check then requires translations unless english_first)."""

    def __init__(self, k: Knowledge):
        self.known: dict[str, LocalizedMap] = {}
        for entry in [*k.people, *k.doctors]:
            for name in TRANSLATED_FIELDS.get(type(entry), ()):
                value = getattr(entry, name)
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, LocalizedMap):
                        for text in (item.en, item.fr, item.ar, item.zh):
                            if text:
                                self.known.setdefault(normalize(text), item)
        self.untranslated: set[str] = set()

    def __call__(self, text: str | None, given: dict[str, list[str]], index: int = 0
                 ) -> str | LocalizedMap | None:
        if text is None:
            return None
        own = {lang: values[index] for lang, values in given.items() if index < len(values)}
        if own:
            return LocalizedMap(en=text, **own)
        known = self.known.get(normalize(text))
        if known is not None:
            return known
        self.untranslated.add(text)
        return text


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


def _listing(row: Row, vocab: _Vocabulary, notes: list[str], tr: _Translator
             ) -> tuple[Person, Doctor]:
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
        given = row.translations
        person = Person(id=person_id, name=row.name, title=tr(row.title, given.get("title", {})),
                        aliases=list(dict.fromkeys(a for a in row.aliases if a != row.name)))
        doctor = Doctor(id=f"dr-{person_id}", practitioner=person_id,
                        specialty=list(dict.fromkeys(specialties)),
                        conditions=list(dict.fromkeys(conditions)),
                        communication=list(dict.fromkeys(languages)),
                        qualification=[tr(q, given.get("qualification", {}), i)
                                       for i, q in enumerate(row.qualifications)],
                        organization=tr(row.institution, given.get("institution", {})),
                        location=tr(row.city, given.get("city", {})),
                        telecom=telecom, available_times=times,
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
         ) -> tuple[ImportReport, list[Person], list[Doctor], list[Doctor]]:
    """Match the rows to the folder's knowledge; return the report (without check problems),
    the people of the directory files, the hand-written listings kept and the imported ones.

    Raises:
        KnowledgeError: when the folder itself has errors (fix it before importing).
    """
    k = load_knowledge(folder)
    vocab, tr = _Vocabulary(k), _Translator(k)
    report = ImportReport(rejected=list(rejected))
    own_people = _people_of(folder)
    other_people = {p.id for p in k.people if p.id not in own_people}
    seen: dict[str, str] = {}
    people: dict[str, Person] = {}
    listings: dict[str, Doctor] = {}
    for row in rows:
        try:
            person, doctor = _listing(row, vocab, report.notes, tr)
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
    if tr.untranslated and not k.translations.english_first:
        shown = ", ".join(sorted(tr.untranslated)[:6]) + (" ..." if len(tr.untranslated) > 6
                                                          else "")
        report.notes.append(
            f"{len(tr.untranslated)} text(s) have no French, Arabic or Chinese version ({shown}): "
            "add the columns title_fr, title_ar, title_zh, city_fr ... institution_zh, "
            "qualification_fr ... to the file, or set `english_first: true` under "
            "`translations:` to publish them in English first")
    report.rejected.sort(key=lambda r: (r.line or 0))
    return report, sorted(people.values(), key=lambda p: p.id), kept, list(listings.values())


def directory_files(folder: Path) -> list[Path]:
    """The files an import writes people and listings into (``directory-NN.yaml``)."""
    return sorted(folder.glob(DIRECTORY_GLOB))


def _people_of(folder: Path) -> dict[str, Person]:
    """The people of the folder's directory files, by id (with the admin's aliases)."""
    from bot.knowledge.yamlsafe import load_yaml_file
    out = {}
    for path in directory_files(folder):
        data = load_yaml_file(path).data
        items = data.get("people") if isinstance(data, dict) else None
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
    report, people, kept, imported = plan(folder, rows, rejected)
    if not report.added and not report.updated and not imported:
        if rows or rejected:  # an unreadable or wholly rejected file is not an empty directory
            report.problems = [Problem("-", message="no row of the file could be imported")]
        return report
    k = load_knowledge(folder)
    texts: dict[str, str] = {}
    if [d.id for d in kept] != [d.id for d in k.doctors if not _imported(d)]:
        texts[DOCTORS_FILE] = doctors_yaml(folder / DOCTORS_FILE, k, kept)  # one was replaced
    listings: dict[str, list[Doctor]] = {}
    for d in imported:
        listings.setdefault(d.practitioner, []).append(d)
    parts = [people[start:start + CHUNK] for start in range(0, len(people), CHUNK)]
    for n, chunk in enumerate(parts, 1):
        texts[f"directory-{n:02d}.yaml"] = directory_yaml(
            chunk, [d for p in chunk for d in listings.get(p.id, [])])
    shared = [d for d in imported if d.practitioner not in {p.id for p in people}]
    if shared:  # listings of forum speakers: their people live in people.yaml
        texts[f"directory-{len(parts) + 1:02d}.yaml"] = directory_yaml([], shared)
    changed = {name: text for name, text in texts.items()
               if not (folder / name).is_file()
               or (folder / name).read_text(encoding="utf-8") != text}
    stale = [p for p in directory_files(folder) if p.name not in texts]
    if not changed and not stale:
        return report
    with tempfile.TemporaryDirectory(prefix="forumbot-import-") as tmp:
        trial = Path(tmp) / "knowledge"
        shutil.copytree(folder, trial, ignore=shutil.ignore_patterns(".*"))
        for name, text in changed.items():
            (trial / name).write_text(text, encoding="utf-8")
        for path in stale:
            (trial / path.name).unlink()
        report.problems = [p for p in check(trial) if p.severity == "error"]
    if report.problems or dry_run:
        return report
    for name in sorted(changed, key=lambda n: n != DOCTORS_FILE):
        _replace(folder / name, changed[name])
        report.written.append(folder / name)
    for path in stale:
        path.unlink()
        report.written.append(path)
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


def directory_yaml(people: list[Person], doctors: list[Doctor]) -> str:
    """The text of one directory-NN.yaml: people of the imported directory and their
    listings (the ``doctors`` section may be split over files like any section)."""
    head = ["# Part of the imported doctor directory, written by `forumbot import doctors`.",
            "# You may add aliases to the people (and fields the directory does not give): a",
            "# re-import keeps them. Names, titles, specialties and contacts come from the",
            "# hospital's directory: change them there and import again."]
    body = (_entries("people", list(people)) if people else []) + \
        (_entries("doctors", list(doctors)) if doctors else [])
    return "\n".join([*head, *body]).rstrip() + "\n"


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


__all__ = ["DOCTORS_FILE", "ImportReport", "directory_files", "directory_yaml", "doctors_yaml",
           "plan", "read_file", "run_import", "slug", "KnowledgeError"]


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
