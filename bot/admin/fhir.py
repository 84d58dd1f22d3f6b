"""FHIR R4 Bundles of Practitioner + PractitionerRole: read into directory rows, and write
the directory out.

Resources are parsed and validated with the ``fhir.resources`` library, with its R4B models
(FHIR 4.3, the same Practitioner and PractitionerRole elements as R4 4.0.1). Every entry is
validated on its own, so one malformed entry is reported (with its line in the JSON file and
the reason) and the others are still imported.

Mapping (both ways):

Texts the knowledge holds in four languages are exported in English (display, text); an
import finds their other languages again where the knowledge already translates the same
text.

- Practitioner.id -> person id; name[0] (``text``, else given + family) -> name, its
  ``prefix`` -> title; qualification[].code -> qualification; communication[] -> language
  codes;
- PractitionerRole.practitioner -> which person (``Practitioner/<id>`` or a fullUrl);
  specialty[] -> specialties, or conditions when the concept is a topic of topics.yaml
  (codes of the systems SPECIALTY_SYSTEM / TOPIC_SYSTEM are ids; otherwise the concept's
  text, display or code is matched by name); organization.display -> organization;
  location[].display -> location; telecom -> contacts; availableTime -> opening hours.
  Several roles of one practitioner make one listing.
"""
from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from bot.knowledge.models import Doctor, Knowledge, text_in

from .directory import Rejected, Row, clean

SPECIALTY_SYSTEM = "urn:summit-assistant:specialty"
TOPIC_SYSTEM = "urn:summit-assistant:topic"
LANGUAGE_SYSTEM = "urn:ietf:bcp:47"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _models():
    from fhir.resources.R4B.bundle import Bundle  # a large package: import when used
    from fhir.resources.R4B.practitioner import Practitioner
    from fhir.resources.R4B.practitionerrole import PractitionerRole
    return Bundle, Practitioner, PractitionerRole


def _entry_lines(text: str) -> list[int]:
    """Return the 1-based line where each element of the top-level ``entry`` array starts
    (json gives no positions: the array is walked with raw_decode)."""
    decoder = json.JSONDecoder()
    i = text.index("{") + 1
    lines: list[int] = []

    def skip(j: int) -> int:
        while j < len(text) and text[j] in " \t\r\n,":
            j += 1
        return j
    while True:
        i = skip(i)
        if i >= len(text) or text[i] == "}":
            return lines
        key, i = decoder.raw_decode(text, i)
        i = skip(i)
        i = skip(i + 1)  # the colon
        if key == "entry" and text[i] == "[":
            i += 1
            while True:
                i = skip(i)
                if text[i] == "]":
                    i += 1
                    break
                lines.append(text.count("\n", 0, i) + 1)
                _, i = decoder.raw_decode(text, i)
        else:
            _, i = decoder.raw_decode(text, i)


def _reason(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


def _concept_texts(concept: Any) -> list[tuple[str | None, str]]:
    """(system, text-or-code) candidates of a CodeableConcept, most specific first."""
    out: list[tuple[str | None, str]] = []
    for coding in concept.coding or []:
        if coding.code and coding.system in (SPECIALTY_SYSTEM, TOPIC_SYSTEM):
            out.append((coding.system, coding.code))
    if concept.text:
        out.append((None, concept.text))
    for coding in concept.coding or []:
        if coding.display:
            out.append((None, coding.display))
        if coding.code:
            out.append((None, coding.code))
    return out


def read_bundle(text: str, source: str, is_specialty, is_topic) -> tuple[list[Row], list[Rejected]]:
    """Parse a Bundle of Practitioner and PractitionerRole resources into rows.

    Args:
        text: the JSON file content; source: default ``source`` of the rows (file name).
        is_specialty, is_topic: ``(system, text) -> bool``: whether a concept names a
            specialty or a topic of the knowledge (to sort PractitionerRole.specialty into
            specialties and conditions).
    Returns:
        (rows, rejected): each malformed entry, role without its practitioner, or
        practitioner without a role is rejected with its line and reason.
    """
    Bundle, Practitioner, PractitionerRole = _models()
    try:
        data = json.loads(text)
    except ValueError as exc:
        line = getattr(exc, "lineno", None)
        return [], [Rejected(line, f"line {line}" if line else "file",
                             f"not valid JSON ({exc})")]
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        return [], [Rejected(1, "line 1", "not a FHIR Bundle (resourceType must be \"Bundle\")")]
    entries = data.get("entry") or []
    try:
        Bundle.model_validate({**data, "entry": []})
        lines = _entry_lines(text)
    except ValidationError as exc:
        return [], [Rejected(1, "line 1", f"the Bundle itself is malformed: {_reason(exc)}")]
    except (ValueError, IndexError):
        lines = []
    if not isinstance(entries, list):
        return [], [Rejected(1, "line 1", "the Bundle's `entry` must be a list")]
    rejected: list[Rejected] = []
    practitioners: dict[str, tuple[Any, int | None, str]] = {}
    refs: dict[str, str] = {}
    roles: list[tuple[Any, int | None, str]] = []
    for n, entry in enumerate(entries):
        line = lines[n] if n < len(lines) else None
        resource = entry.get("resource") if isinstance(entry, dict) else None
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        rid = resource.get("id") if isinstance(resource, dict) else None
        where = f"line {line}, entry {n}" if line else f"entry {n}"
        where += f" ({kind}/{rid})" if kind and rid else f" ({kind})" if kind else ""
        model = {"Practitioner": Practitioner, "PractitionerRole": PractitionerRole}.get(kind) \
            if kind else None
        if model is None:
            rejected.append(Rejected(line, where, f"a {kind or 'entry without resource'} is not "
                                     "a Practitioner or PractitionerRole"))
            continue
        try:
            parsed = model.model_validate(resource)
        except ValidationError as exc:
            rejected.append(Rejected(line, where, _reason(exc)))
            continue
        if kind == "PractitionerRole":
            roles.append((parsed, line, where))
            continue
        key = parsed.id or (entry.get("fullUrl") if isinstance(entry, dict) else None)
        if not key:
            rejected.append(Rejected(line, where, "a Practitioner needs an id or a fullUrl"))
            continue
        practitioners[key] = (parsed, line, where)
        refs[f"Practitioner/{parsed.id}"] = key
        if isinstance(entry, dict) and entry.get("fullUrl"):
            refs[entry["fullUrl"]] = key
    by_person: dict[str, list[Any]] = {}
    for role, line, where in roles:
        ref = role.practitioner.reference if role.practitioner else None
        key = refs.get(ref or "")
        if key is None:
            rejected.append(Rejected(line, where, f"its practitioner {ref!r} is not a "
                                     "Practitioner of this Bundle"))
            continue
        by_person.setdefault(key, []).append(role)
    rows = []
    for key, (p, line, where) in practitioners.items():
        if key not in by_person:
            rejected.append(Rejected(line, where, "no PractitionerRole gives this practitioner "
                                     "a specialty"))
            continue
        rows.append(_row(p, by_person[key], line, where, source, is_specialty, is_topic))
    return rows, rejected


def _row(p: Any, roles: list[Any], line: int | None, where: str, source: str,
         is_specialty, is_topic) -> Row:
    name = p.name[0] if p.name else None
    full = clean(name.text) if name and name.text else clean(" ".join(
        [*(name.given or []), name.family or ""])) if name else None
    row = Row(line=line or 0, where=where, name=full or "", person_id=p.id,
              title=clean(" ".join(name.prefix)) if name and name.prefix else None,
              source=source)
    for q in p.qualification or []:
        text = clean(q.code.text) or next((clean(c.display) for c in q.code.coding or []
                                           if c.display), None)
        if text:
            row.qualifications.append(text)
    for concept in p.communication or []:
        code = next((c.code for c in concept.coding or [] if c.code), None)
        if code or concept.text:
            row.languages.append(code or concept.text)
    for role in roles:
        for concept in role.specialty or []:
            candidates = _concept_texts(concept)
            ours = [(s, t) for s, t in candidates if s is not None]
            if ours:  # a code of our own systems decides alone (an export read back)
                target = row.specialties if ours[0][0] == SPECIALTY_SYSTEM else row.conditions
                target.append(ours[0][1])
            elif any(is_specialty(s, t) for s, t in candidates):
                row.specialties.append(next(t for s, t in candidates if is_specialty(s, t)))
            elif any(is_topic(s, t) for s, t in candidates):
                row.conditions.append(next(t for s, t in candidates if is_topic(s, t)))
            elif candidates:
                row.specialties.append(candidates[0][1])  # rejected with its name
        if role.organization and role.organization.display and not row.institution:
            row.institution = clean(role.organization.display)
        for loc in role.location or []:
            if loc.display and not row.city:
                row.city = clean(loc.display)
        for t in [*(role.telecom or []), *(p.telecom or [])]:
            listed = {"phone": row.phones, "email": row.emails, "url": row.urls}.get(t.system)
            value = clean(t.value)  # None when only invisible characters: nothing to list
            if listed is not None and value and value not in listed:
                listed.append(value)
        for at in role.availableTime or []:
            if at.daysOfWeek and at.availableStartTime and at.availableEndTime:
                row.available.append((list(at.daysOfWeek), str(at.availableStartTime)[:5],
                                      str(at.availableEndTime)[:5]))
    return row


def export_bundle(k: Knowledge) -> dict:
    """Return the directory of ``k`` as a FHIR Bundle (type collection, a JSON-ready dict):
    one Practitioner per listed person and one PractitionerRole per listing, validated by
    fhir.resources. Fields the knowledge leaves empty stay absent (nothing is invented).

    Raises:
        pydantic.ValidationError: if fhir.resources rejects the result (a bug here).
    """
    Bundle, Practitioner, PractitionerRole = _models()
    entries = []
    done: set[str] = set()
    specialties = {s.id: s for s in k.specialties}
    topics = {t.id: t for t in k.topics}
    for d in k.doctors:
        person = k.get("person", d.practitioner)
        if person.id not in done:
            done.add(person.id)
            name: dict[str, Any] = {"text": person.name}
            if person.title:
                name["prefix"] = [text_in(person.title, "en")]
            practitioner: dict[str, Any] = {"resourceType": "Practitioner", "id": person.id,
                                            "active": True, "name": [name]}
            if d.qualification:
                practitioner["qualification"] = [{"code": {"text": text_in(q, "en")}}
                                                 for q in d.qualification]
            if d.communication:
                practitioner["communication"] = [
                    {"coding": [{"system": LANGUAGE_SYSTEM, "code": c}]} for c in d.communication]
            entries.append(Practitioner.model_validate(practitioner))
        entries.append(PractitionerRole.model_validate(_role(d, person.name, specialties,
                                                             topics)))
    bundle = Bundle.model_validate({
        "resourceType": "Bundle", "type": "collection",
        "entry": [{"fullUrl": f"urn:summit-assistant:{r.get_resource_type()}/{r.id}",
                   "resource": r.model_dump(mode="json", exclude_none=True)} for r in entries]})
    return json.loads(bundle.model_dump_json(exclude_none=True))


def _role(d: Doctor, name: str, specialties, topics) -> dict:
    concepts = [{"coding": [{"system": SPECIALTY_SYSTEM, "code": s,
                             "display": specialties[s].name}], "text": specialties[s].name}
                for s in d.specialty]
    concepts += [{"coding": [{"system": TOPIC_SYSTEM, "code": t, "display": topics[t].name}],
                  "text": topics[t].name} for t in d.conditions]
    role: dict[str, Any] = {"resourceType": "PractitionerRole", "id": d.id, "active": True,
                            "practitioner": {"reference": f"Practitioner/{d.practitioner}",
                                             "display": name},
                            "specialty": concepts}
    if d.organization:
        role["organization"] = {"display": text_in(d.organization, "en")}
    if d.location:
        role["location"] = [{"display": text_in(d.location, "en")}]
    if d.telecom:
        role["telecom"] = [{"system": t.system, "value": t.value, **({"use": t.use} if t.use
                                                                        else {})}
                           for t in d.telecom]
    if d.available_times:
        role["availableTime"] = [{"daysOfWeek": list(a.days), "availableStartTime": f"{a.start}:00",
                                  "availableEndTime": f"{a.end}:00"} for a in d.available_times]
    return role


def validate_bundle(data: dict) -> None:
    """Validate a Bundle dict with fhir.resources (R4B), each entry's resource included.

    Raises:
        pydantic.ValidationError: on the first invalid part.
    """
    Bundle, _, _ = _models()
    Bundle.model_validate(data)


__all__ = ["SPECIALTY_SYSTEM", "TOPIC_SYSTEM", "export_bundle", "read_bundle", "validate_bundle"]
