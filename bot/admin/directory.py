"""The doctor directory as plain rows, and the CSV format a hospital exports.

A :class:`Row` is one clinician as a source gives it (a CSV line or a FHIR Practitioner
with its PractitionerRoles), before it is matched to the knowledge's specialties and
topics by :mod:`bot.admin.importer`.

CSV columns (first line; names are case-insensitive, order free, unknown columns are an
error so a misspelt column is not silently dropped). Lists are separated by ``;``:

=================  ========  ===================================================================
column             required  content
=================  ========  ===================================================================
name               yes       full name as the directory writes it ("Nadia Bennani")
specialty          yes       specialty names or ids ("obstetrics; midwife"), any language
id                 no        stable id of the person (lowercase, digits, hyphens); default: the name
title              no        "Dr.", "Pr.", ...
conditions         no        topic names or ids this clinician treats ("preeclampsia; GDM")
languages          no        language codes or names ("fr; ar", "French; Arabic")
city               no        where the clinician works (written as the listing's location)
institution        no        hospital or clinic (the listing's organization)
phone, email, url  no        contact fields, several separated by ";"
qualification      no        qualifications ("MD; PhD")
aliases            no        other spellings of the name users may type
source             no        where the row comes from (default: the file name)
title_fr ... _zh   no        translations of title, city, institution and qualification:
                             <column>_fr, <column>_ar, <column>_zh (every user-visible text
                             needs the four languages; a value the knowledge already
                             translates, like "Dr." or "Hassan II Hospital", needs none)
=================  ========  ===================================================================
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field

MAX_ROWS = 50_000
TRANSLATED = ("title", "city", "institution", "qualification")  # also as <column>_fr/_ar/_zh
COLUMNS = ("id", "name", "title", "specialty", "conditions", "languages", "city", "institution",
           "phone", "email", "url", "qualification", "aliases", "source",
           *(f"{c}_{lang}" for c in TRANSLATED for lang in ("fr", "ar", "zh")))
REQUIRED = ("name", "specialty")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b\ufeff]")


@dataclass
class Row:
    """One clinician from a source file.

    Attributes:
        line: where it is in the source (1-based line of the CSV or of the FHIR JSON).
        where: how to name it in a report ("line 12", "entry 3 (Practitioner/abc)").
        name: full name; person_id: stable id if the source gives one.
        title, specialties, conditions, languages, city, institution, phones, emails,
        urls, qualifications, aliases: as the source gives them (text, not yet matched).
        available: opening hours as (days, "HH:MM", "HH:MM") tuples (FHIR availableTime).
        source: where the row comes from.
        translations: field ("title", "city", "institution", "qualification") -> language
            ("fr", "ar", "zh") -> its values (a list: qualifications are several).
    """

    line: int
    where: str
    name: str
    person_id: str | None = None
    title: str | None = None
    specialties: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    city: str | None = None
    institution: str | None = None
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    qualifications: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    available: list[tuple[list[str], str, str]] = field(default_factory=list)
    source: str | None = None
    translations: dict[str, dict[str, list[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rejected:
    """A row that was not imported: ``line`` (1-based, or None for the whole file),
    ``where`` (as in the report) and ``reason`` (what to fix)."""

    line: int | None
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def clean(text: str | None) -> str | None:
    """Return ``text`` with control and invisible characters removed, whitespace folded and
    Unicode in NFC; None for None or a text left empty."""
    if text is None:
        return None
    text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", text)).split())
    return text or None


def split_list(text: str | None) -> list[str]:
    """Split a ``;``-separated cell (``,`` too when there is no ``;``) into clean items."""
    if not text:
        return []
    parts = text.split(";") if ";" in text else text.split(",")
    return [c for c in (clean(p) for p in parts) if c]


def read_csv(text: str, source: str) -> tuple[list[Row], list[Rejected]]:
    """Parse a directory CSV (see the module docstring for the columns).

    Args:
        text: the file content; a ``;`` or tab delimiter is recognised as well as ``,``.
        source: the default ``source`` of the rows (the file name).
    Returns:
        (rows, rejected): a file-level problem (no header, a missing or unknown column) is
        one Rejected with line None or 1 and no rows; a row without a name or specialty is
        rejected with its line.
    """
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return [], [Rejected(None, "file", "the file is empty: the first line must name the "
                                           f"columns ({', '.join(COLUMNS)})")]
    except csv.Error as exc:
        return [], [Rejected(1, "line 1", f"the CSV could not be read ({exc})")]
    names = [(clean(h) or "").lower().replace(" ", "_") for h in header]
    unknown = [n for n in names if n and n not in COLUMNS]
    missing = [n for n in REQUIRED if n not in names]
    if unknown or missing:
        said = []
        if missing:
            said.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            said.append(f"unknown column(s) {', '.join(unknown)}")
        return [], [Rejected(1, "line 1", "; ".join(said) + f" (the columns are: {', '.join(COLUMNS)})")]
    rows: list[Row] = []
    rejected: list[Rejected] = []
    line = reader.line_num
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(rows) + len(rejected) >= MAX_ROWS:
                rejected.append(Rejected(start, f"line {start}", f"more than {MAX_ROWS} rows: "
                                         "the rest of the file is not read"))
                break
            if len(cells) > len(names):
                rejected.append(Rejected(start, f"line {start}", f"{len(cells)} cells for "
                                         f"{len(names)} columns: quote cells holding a "
                                         f"'{delimiter}'"))
                continue
            cell = dict(zip(names, cells))
            rows.append(Row(
                line=start, where=f"line {start}", name=clean(cell.get("name")) or "",
                person_id=clean(cell.get("id")), title=clean(cell.get("title")),
                specialties=split_list(cell.get("specialty")),
                conditions=split_list(cell.get("conditions")),
                languages=split_list(cell.get("languages")),
                city=clean(cell.get("city")), institution=clean(cell.get("institution")),
                phones=split_list(cell.get("phone")), emails=split_list(cell.get("email")),
                urls=split_list(cell.get("url")),
                qualifications=split_list(cell.get("qualification")),
                aliases=split_list(cell.get("aliases")),
                source=clean(cell.get("source")) or source,
                translations={c: {lang: split_list(cell.get(f"{c}_{lang}")) if c == "qualification"
                                  else [v for v in [clean(cell.get(f"{c}_{lang}"))] if v]
                                  for lang in ("fr", "ar", "zh") if cell.get(f"{c}_{lang}")}
                              for c in TRANSLATED}))
    except csv.Error as exc:
        rejected.append(Rejected(line + 1, f"line {line + 1}", f"the CSV could not be read "
                                 f"from here ({exc})"))
    return rows, rejected


__all__ = ["COLUMNS", "Row", "Rejected", "clean", "read_csv", "split_list"]
