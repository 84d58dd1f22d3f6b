"""Scheduled announcements written by organisers in ``knowledge/announcements.yaml``.

The file is read with the strict YAML loader of the knowledge files
(:func:`bot.knowledge.yamlsafe.load_yaml_file`) and every mistake becomes a
:class:`~bot.knowledge.problems.Problem` naming the file, line, column and field::

    announcements:
      - id: closing-ceremony            # lowercase letters, digits, hyphens; unique
        at: "2026-12-01 09:00"          # local time, in quotes
        zone: Africa/Casablanca         # IANA zone; optional: DEFAULT_TIMEZONE otherwise
        text:                           # one text, or one per language (en, fr, ar, zh)
          en: "The closing ceremony starts at 10:00 in hall A."
          fr: "La cérémonie de clôture commence à 10h00 en salle A."
        audience: fr                    # optional: only subscribers of this language

Local times are converted to UTC with the zone's rules for that very date (zoneinfo), so a
Moroccan time during Ramadan, when Morocco moves its clocks back an hour, gets the right
offset. :func:`sync_announcements` then copies the valid entries into the database, where
the broadcast worker (:mod:`bot.broadcast.delivery`) picks them up when due.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.engine import Engine

from bot.knowledge.problems import Problem
from bot.knowledge.yamlsafe import LoadedYaml, field_path, load_yaml_file, load_yaml_text, position_of
from bot.storage.models import AnnouncementModel, as_utc, utc_now
from bot.storage.questions import _insert_for

from .admin import LANGUAGES, TRANSLATED

FILE_NAME = "announcements.yaml"
YAML_CREATOR = "yaml"  # created_by of the rows this module writes
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,99}$"
_TIME = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{2})")
_announcements = cast(sa.Table, AnnouncementModel.__table__)


class _RawAnnouncement(BaseModel):
    """One entry as written in the file (before time and language checks)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    at: str
    zone: str | None = None
    text: str | dict[str, str]
    audience: str | None = None


@dataclass(frozen=True)
class ScheduledAnnouncement:
    """One valid announcement of the file.

    Attributes:
        id: its id (unique in the file).
        send_at: when to send it, aware UTC.
        zone: the IANA zone its local time was written in.
        local_time: the time as written ("2026-12-01 09:00").
        texts: text per language code; always has "en" (the default text).
        audience: a language code, or None for every subscriber.
    """

    id: str
    send_at: datetime
    zone: str
    local_time: str
    texts: dict[str, str]
    audience: str | None = None


@dataclass
class LoadedAnnouncements:
    """Result of :func:`load_announcements`: the valid entries and every problem found.

    An entry with an error is left out of ``entries``; callers that want all-or-nothing
    (like the knowledge reload) check ``ok`` first.
    """

    entries: list[ScheduledAnnouncement] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


@dataclass(frozen=True)
class SyncResult:
    """What :func:`sync_announcements` did: ids created, updated, left alone because they
    are already sending/done/cancelled/skipped (``kept``), and cancelled."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)


def local_to_utc(local: datetime, zone: str) -> datetime:
    """Convert a naive local wall time in IANA ``zone`` to aware UTC, with the zone's rules
    for that date (an ambiguous time takes its first occurrence).

    Raises:
        ZoneInfoNotFoundError/ValueError: for an unknown zone.
        ValueError: when the time does not exist there (skipped by a clock change).
    """
    tz = ZoneInfo(zone)
    aware = local.replace(tzinfo=tz)
    utc = aware.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != local:
        raise ValueError("this time does not exist there: the clocks jump over it")
    return utc


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


class _Checker:
    def __init__(self, file: str, positions: dict, default_zone: str | None,
                 now: datetime) -> None:
        self.file, self.positions, self.default_zone, self.now = file, positions, default_zone, now
        self.problems: list[Problem] = []

    def error(self, path: tuple, message: str, key: bool = False) -> None:
        line, column = position_of(self.positions, path + (("__key__",) if key else ()))
        self.problems.append(Problem(self.file, line, column, field_path(path), message))

    def entry(self, item: object, path: tuple) -> ScheduledAnnouncement | None:
        before = len(self.problems)
        try:
            raw = _RawAnnouncement.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(p for p in err["loc"] if p not in ("str", "dict[str,str]"))
                name = str(loc[-1]) if loc else ""
                if err["type"] == "missing":
                    self.error(path, f"this announcement needs a `{name}` field")
                elif err["type"] == "extra_forbidden":
                    self.error(path + loc, f"unknown field `{name}`; the fields are id, at, "
                               "zone, text and audience", key=True)
                elif err["type"] == "string_pattern_mismatch":
                    self.error(path + loc, "ids use lowercase letters, digits and hyphens "
                               f"only (like `closing-ceremony`), got {err.get('input')!r}")
                elif err["type"] == "model_type":
                    self.error(path, "each announcement must be a group of fields "
                               "(id, at, zone, text, audience)")
                    return None
                else:
                    self.error(path + loc, f"{err['msg']} (got {err.get('input')!r}); "
                               "write text in quotes")
            # keep going with what is readable, for more problems at once
            if not isinstance(item, dict):
                return None
            raw = None
        # when the model refused it, ``item`` is a mapping (checked above)
        data = cast(dict[str, object], item) if raw is None else raw.model_dump()
        zone = data.get("zone")
        if isinstance(zone, str):
            if not _valid_zone(zone):
                self.error(path + ("zone",), f"unknown time zone {zone!r}; use an IANA name "
                           "like Africa/Casablanca, Europe/Paris or Asia/Shanghai")
                zone = None
        elif zone is None:
            if not self.default_zone:
                self.error(path + ("at",), "this time has no zone and no DEFAULT_TIMEZONE is "
                           "configured: add `zone: Africa/Casablanca` (or your zone)")
            elif not _valid_zone(self.default_zone):
                self.error(path + ("at",), f"DEFAULT_TIMEZONE {self.default_zone!r} is not a "
                           "known time zone: add a `zone:` to this announcement")
            else:
                zone = self.default_zone
        else:
            zone = None  # not text: reported by the model check
        send_at = None
        at = data.get("at")
        if isinstance(at, str):
            m = _TIME.fullmatch(at.strip())
            local = None
            if m is None:
                self.error(path + ("at",), f"cannot read the time {at!r}: write it as "
                           '"2026-12-01 09:00" (year-month-day hours:minutes, in quotes)')
            else:
                try:
                    year, month, day, hour, minute = (int(g) for g in m.groups())
                    local = datetime(year, month, day, hour, minute)
                except ValueError as exc:
                    self.error(path + ("at",), f"cannot read the time {at!r}: {exc}")
            if local is not None and zone is not None:
                try:
                    send_at = local_to_utc(local, zone)
                except ValueError as exc:
                    self.error(path + ("at",), f"{at} in {zone}: {exc}; choose another time")
                if send_at is not None and send_at <= self.now:
                    self.error(path + ("at",), f"{at} ({zone}) is already past; correct the "
                               "date, or remove the announcement once it has been sent")
                    send_at = None
        texts = self.texts(data.get("text"), path + ("text",), data.get("audience"))
        audience = data.get("audience")
        if isinstance(audience, str) and audience not in LANGUAGES:
            self.error(path + ("audience",), f"unknown language {audience!r} for the "
                       f"audience; use one of {', '.join(LANGUAGES)}, or remove it to send "
                       "to everyone")
        if (len(self.problems) > before or raw is None or send_at is None or zone is None
                or texts is None):
            return None
        return ScheduledAnnouncement(id=raw.id, send_at=send_at, zone=zone, local_time=raw.at,
                                     texts=texts, audience=raw.audience)

    def texts(self, text: object, path: tuple, audience: object) -> dict[str, str] | None:
        if isinstance(text, str):
            if not text.strip():
                self.error(path, "the text is empty")
                return None
            return {"en": text}
        if not isinstance(text, dict):
            return None  # reported by the model check
        ok = True
        for lang, value in text.items():
            if lang not in LANGUAGES:
                self.error(path + (lang,), f"unknown language `{lang}`; the languages are "
                           f"{', '.join(LANGUAGES)}", key=True)
                ok = False
            elif not isinstance(value, str):
                ok = False  # reported by the model check
            elif not value.strip():
                self.error(path + (lang,), "the text is empty")
                ok = False
        if not ok:
            return None
        if "en" not in text:
            if isinstance(audience, str) and audience in text:
                return {"en": text[audience], **{k: v for k, v in text.items()
                                                  if k != audience}}
            self.error(path, "add an `en` text: it is sent to subscribers whose language "
                       "has no text here")
            return None
        return dict(text)


def parse_announcements(loaded: LoadedYaml, file: str, *, default_zone: str | None,
                        clock: Callable[[], datetime] = utc_now) -> LoadedAnnouncements:
    """Check the parsed YAML of an announcements file (see :func:`load_announcements`)."""
    result = LoadedAnnouncements(problems=list(loaded.problems))
    data = loaded.data
    if data is None:
        return result
    if not isinstance(data, dict) or set(data) - {"announcements"}:
        result.problems.append(Problem(file, 1, 1, None, "the file must hold one section, "
                                       "`announcements:`, followed by a list of entries"))
        return result
    items = data.get("announcements")
    if items is None:
        return result
    if not isinstance(items, list):
        line, column = position_of(loaded.positions, ("announcements",))
        result.problems.append(Problem(file, line, column, "announcements",
                                       "`announcements` must be a list: start each entry "
                                       "with `- ` on a new line"))
        return result
    checker = _Checker(file, loaded.positions, default_zone, as_utc(clock()))
    seen: dict[str, int | None] = {}
    for i, item in enumerate(items):
        path = ("announcements", i)
        entry = checker.entry(item, path)
        item_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(item_id, str):
            if item_id in seen:
                checker.error(path + ("id",), f"the id `{item_id}` is used twice (first on "
                              f"line {seen[item_id]}); ids must be unique")
                continue
            seen[item_id] = position_of(loaded.positions, path + ("id",))[0]
        if entry is not None:
            result.entries.append(entry)
    result.problems.extend(checker.problems)
    result.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
    return result


def load_announcements(path: str | Path, *, default_zone: str | None,
                       clock: Callable[[], datetime] = utc_now) -> LoadedAnnouncements:
    """Read and check an announcements file.

    Args:
        path: the file (usually ``KNOWLEDGE_DIR/announcements.yaml``). A missing file is
            no announcements, not an error.
        default_zone: DEFAULT_TIMEZONE, used for entries without ``zone``; None or "" when
            none is configured (then such entries are errors).
        clock: returns the current time; entries at or before it are errors.
    Returns:
        :class:`LoadedAnnouncements`. Errors (each a Problem with file, line, column and
        field): a time without a zone when there is no default zone, an unknown IANA
        zone, an unreadable or non-existent local time, a time already past, an unknown
        language key in ``text`` or ``audience``, a duplicate id, unknown or missing
        fields, and every YAML problem of the strict loader.
    """
    path = Path(path)
    if not path.exists():
        return LoadedAnnouncements()
    return parse_announcements(load_yaml_file(path), str(path), default_zone=default_zone,
                               clock=clock)


def load_announcements_text(text: str, file: str = FILE_NAME, *, default_zone: str | None,
                            clock: Callable[[], datetime] = utc_now) -> LoadedAnnouncements:
    """:func:`load_announcements` on YAML text (``file`` names it in problems)."""
    return parse_announcements(load_yaml_text(text, file), file, default_zone=default_zone,
                               clock=clock)


def _values(entry: ScheduledAnnouncement) -> dict:
    return {"text": entry.texts["en"],
            **{f"text_{lang}": entry.texts.get(lang) for lang in TRANSLATED},
            "send_at": entry.send_at, "zone": entry.zone, "audience": entry.audience}


def sync_announcements(engine: Engine, entries: list[ScheduledAnnouncement], *,
                       cancel_missing: bool = False,
                       clock: Callable[[], datetime] = utc_now) -> SyncResult:
    """Copy the file's announcements into the database (one transaction).

    New ids are inserted as ``scheduled``; ids still ``scheduled`` get the file's text,
    time, zone and audience; ids already ``sending``, ``done``, ``cancelled`` or
    ``skipped`` are left alone (``kept``). Safe when several bot instances sync the same
    file at once.

    Args:
        entries: :attr:`LoadedAnnouncements.entries` (apply only a file without errors,
            so a typo does not half-update the schedule).
        cancel_missing: also cancel scheduled announcements of the file (created_by
            "yaml") whose id is no longer in ``entries``. Off by default: cancelling is
            then an explicit admin action (``forumbot announce cancel ID``).
        clock: the current time (``created_at`` of new rows).
    """
    now = as_utc(clock())
    result = SyncResult()
    insert = _insert_for(engine)
    table = _announcements
    with engine.begin() as conn:
        ids = [e.id for e in entries]
        existing = {r.id: r for r in conn.execute(sa.select(table).where(table.c.id.in_(ids)))} \
            if ids else {}
        for entry in entries:
            values = _values(entry)
            row = existing.get(entry.id)
            if row is None:
                created = conn.execute(
                    insert(table).values(id=entry.id, status="scheduled",
                                         created_by=YAML_CREATOR, created_at=now, **values)
                    .on_conflict_do_nothing(index_elements=["id"])).rowcount
                (result.created if created else result.kept).append(entry.id)
            elif row.status != "scheduled":
                result.kept.append(entry.id)
            elif any(getattr(row, k) != v for k, v in values.items()):
                changed = conn.execute(
                    sa.update(table).where(table.c.id == entry.id,
                                           table.c.status == "scheduled")
                    .values(**values)).rowcount
                (result.updated if changed else result.kept).append(entry.id)
        if cancel_missing:
            query = (sa.update(table)
                     .where(table.c.status == "scheduled", table.c.created_by == YAML_CREATOR)
                     .values(status="cancelled").returning(table.c.id))
            if ids:
                query = query.where(table.c.id.not_in(ids))
            result.cancelled.extend(sorted(r.id for r in conn.execute(query)))
    return result
