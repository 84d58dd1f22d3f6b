"""Pure functions that turn knowledge entries into reply text (plain text, no markup).

Every fact in a reply comes from the entry passed in; the fixed words here are interface
wording only. Where the knowledge has no value (contact details, hours, the forum's date)
the text says the source does not give it, never a guess.
"""
from __future__ import annotations

from bot.knowledge.models import (Doctor, Event, Fact, Knowledge, Person, Specialty, Talk,
                                  Topic)

DISCLAIMER = ("Note: this is information about the forum and its speakers, not medical advice. "
              "For your own care, ask your doctor or midwife.")
NOT_GIVEN = "not given in the forum article"


def numbers_line(k: Knowledge) -> str:
    """Return the emergency numbers as one line: "Morocco: 141 (SAMU ...), ...; China: 120"."""
    by_country: dict[str, list[str]] = {}
    for n in k.emergency.numbers:
        by_country.setdefault(n.country, []).append(f"{n.number} ({n.service})")
    return "; ".join(f"{c}: {' or '.join(v)}" for c, v in by_country.items())


def emergency(k: Knowledge) -> str:
    """Return the emergency reply: numbers and the emergency department, first and alone."""
    return ("This may be an emergency. Call now: " + numbers_line(k) + ".\n"
            "Go to the nearest emergency department (hospital emergency room) at once; "
            "do not wait for an answer in this chat.\n"
            "If someone is not breathing or has lost consciousness, call before anything else.")


def urgent_hint(k: Knowledge) -> str:
    """Return the one line added to answers on topics that can describe an emergency."""
    return "If this is happening to you now, call " + numbers_line(k) + \
        ", or go to the nearest emergency department."


def person_name(k: Knowledge, person_id: str) -> str:
    """Return the display name of a person id."""
    return k.get("person", person_id).name


def speaker_of(k: Knowledge, talk: Talk) -> Person:
    """Return the person who gave ``talk``."""
    return k.get("person", talk.speaker)


def talk_line(k: Knowledge, talk: Talk) -> str:
    """Return one programme line: "4. Cai Bin: <title>"."""
    return f"{talk.order}. {speaker_of(k, talk).name}: {talk.title}"


def talk_card(k: Knowledge, talk: Talk) -> str:
    """Return a talk with its speaker, title, topics and summary."""
    topics = ", ".join(k.get("topic", t).name for t in talk.topics)
    return (f"{speaker_of(k, talk).name}: {talk.title}\n"
            f"Topics: {topics}.\n{talk.summary}")


def person_card(k: Knowledge, person: Person) -> str:
    """Return who a person is (role, institution), what they did at the forum, their talks."""
    first = person.name
    if person.role:
        first += f", {person.role}"
    if person.institution and person.institution not in (person.role or ""):
        first += f" ({person.institution})"
    lines = [first + "."]
    talks = k.talks_by(person.id)
    if talks:
        lines += [f"Talk subject: {t.title}.\n{t.summary}" for t in talks]
    elif person.at_forum:
        lines.append(person.at_forum)
    doctor = k.doctor_for(person.id)
    if doctor:
        contact = "" if doctor.telecom else f" Contact details and hours: {NOT_GIVEN}."
        lines.append("Find a Doctor: listed under " + specialties(k, doctor) + "." + contact)
    return "\n".join(lines)


def specialties(k: Knowledge, doctor: Doctor) -> str:
    """Return the doctor's specialties as "Obstetrics and gynecology, ..."."""
    return ", ".join(k.get("specialty", s).name for s in doctor.specialty)


def doctor_card(k: Knowledge, doctor: Doctor) -> str:
    """Return a directory card; empty FHIR fields are said to be unknown, never guessed."""
    person = k.get("person", doctor.practitioner)
    lines = [f"{person.name}: {specialties(k, doctor)}."]
    if doctor.conditions:
        lines.append("Spoke at the forum on: " + ", ".join(
            k.get("topic", c).name.lower() if i else k.get("topic", c).name
            for i, c in enumerate(doctor.conditions)) + ".")
    if doctor.organization:
        lines.append(f"Organisation: {doctor.organization}.")
    if doctor.location:
        lines.append(f"Location: {doctor.location}.")
    if doctor.communication:
        lines.append("Languages: " + ", ".join(doctor.communication) + ".")
    if doctor.telecom:
        lines.append("Contact: " + ", ".join(f"{t.system} {t.value}" for t in doctor.telecom) + ".")
    else:
        lines.append(f"Contact details, hours and address: {NOT_GIVEN}.")
    if doctor.available_times:
        lines.append("Hours: " + "; ".join(f"{'/'.join(a.days)} {a.start}-{a.end}"
                                            for a in doctor.available_times) + ".")
    return "\n".join(lines)


def doctors_list(k: Knowledge, doctors: list[Doctor], heading: str) -> str:
    """Return several doctor cards under a heading."""
    return heading + "\n\n" + "\n\n".join(doctor_card(k, d) for d in doctors)


def directory_overview(k: Knowledge) -> str:
    """Return the Find a Doctor overview: every specialty with its clinicians."""
    lines = [f"Find a Doctor lists the {len(k.doctors)} clinicians who spoke at the forum:"]
    for sp in k.specialties:
        names = [person_name(k, d.practitioner) for d in k.doctors if sp.id in d.specialty]
        if names:
            lines.append(f"- {sp.name}: {', '.join(names)}")
    lines.append("Tell me a specialty or a condition (for example: midwife, preeclampsia).")
    lines.append(f"Contact details and hours are {NOT_GIVEN}.")
    return "\n".join(lines)


def topic_talks(k: Knowledge, topics: list[Topic], talks: list[Talk]) -> str:
    """Return the talks that covered the asked topics."""
    names = " and ".join(t.name.lower() for t in topics) or "this"
    if len(talks) == 1:
        return f"At the forum, {names} was covered by " + talk_card(k, talks[0])
    return (f"At the forum, {names} was covered by {len(talks)} talks:\n\n"
            + "\n\n".join(talk_card(k, t) for t in talks))


def programme(k: Knowledge) -> str:
    """Return every talk in programme order."""
    talks = sorted(k.talks, key=lambda t: t.order)
    return ("The expert talks, in programme order:\n" + "\n".join(talk_line(k, t) for t in talks)
            + "\n" + date_sentence(k.event))


def speakers(k: Knowledge) -> str:
    """Return the speakers of the talks, then the opening ceremony's speakers."""
    talk_people = [k.get("person", t.speaker) for t in sorted(k.talks, key=lambda t: t.order)]
    lines = ["Speakers of the expert talks:"]
    lines += [f"- {p.name}" + (f" ({p.title})" if p.title else "") for p in talk_people]
    others = [p for p in k.people if p not in talk_people]
    if others:
        lines.append("Also at the opening and closing: " + ", ".join(p.name for p in others) + ".")
    return "\n".join(lines)


def date_sentence(event: Event) -> str:
    """Return what is known of the date and time; says so when the source gives none."""
    if event.date:
        when = event.date + (f" at {event.start_time}" if event.start_time else "")
        return f"The forum took place on {when}."
    return (f"The forum was held {event.format} in {event.year}; the source article does not "
            "give its exact date or time, so I cannot tell you that.")


def fact(k: Knowledge, item: Fact) -> str:
    """Return a fact's answer (from its text or the event field it names)."""
    if item.answer_from == "date" or item.answer_from == "start_time":
        return date_sentence(k.event)
    if item.answer_from == "source_url":
        return (f"The source is the article \"{k.event.name}\": {k.event.source_url}"
                if k.event.source_url else "The knowledge gives no link to the source article.")
    if item.answer_from == "location":
        return (f"The forum took place at {k.event.location}." if k.event.location else
                f"The forum was held {k.event.format}; no venue is given in the article.")
    return item.answer or ""


def event_overview(k: Knowledge) -> str:
    """Return what the forum was: name, format, organisers, audience and summary."""
    e = k.event
    return (f"{e.name}.\n{e.summary}\nIt was held {e.format}"
            + (f" and gained {e.followers:,} online followers" if e.followers else "") + ".")


def greeting(k: Knowledge) -> str:
    """Return the welcome text with example questions."""
    return (f"Hello! I am Summit Assistant, for the {k.event.name}.\n"
            "Ask me about the talks, the speakers, or to find a doctor. For example:\n"
            "- Who spoke about preeclampsia?\n- Who is Cai Bin?\n- I need an anesthesiologist\n"
            "In an emergency, call " + numbers_line(k) + ".")


def help_text(k: Knowledge) -> str:
    """Return what the assistant can do and the commands it knows."""
    return ("I answer questions about the forum, its talks and speakers, and the Find a Doctor "
            "directory, in English, French, Arabic or Chinese.\n"
            "Commands: /sessions (programme), /speakers, /doctor [specialty or condition], "
            "/emergency, /about, /help.\n"
            "Examples: \"What did Li Jinbao talk about?\", \"hémorragie du post-partum\", "
            "\"麻醉医生\".")


def fallback(doubtful: bool) -> str:
    """Return the fallback text: unsure (with options) or nothing found."""
    if doubtful:
        return "I am not sure I understood. Did you mean one of these?"
    return ("Sorry, I found nothing about that. I answer questions about the Sino-Morocco "
            "summit forum on high-risk pregnancy: its talks, its speakers and the Find a Doctor "
            "directory of its clinicians. Try one of these, or type /help.")


def ambiguous() -> str:
    """Return the text that asks which of several equally good entries was meant."""
    return "I am not sure which one you mean. Did you mean one of these?"


def thanks() -> str:
    """Return the reply to thanks or goodbye."""
    return "You are welcome. Ask me any time about the forum, its talks or its doctors."


def shorten(text: str, limit: int) -> str:
    """Return ``text`` cut at a word boundary to at most ``limit`` characters, with "…"."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def label(k: Knowledge, key: str) -> str:
    """Return the short label of an entry key ("person:cai-bin" -> "Cai Bin")."""
    kind, _, entry_id = key.partition(":")
    entry = k.entries[key]
    if kind == "talk":
        return shorten(f"{speaker_of(k, entry).name}: {entry.title}", 60)
    if kind == "doctor":
        return f"{person_name(k, entry.practitioner)} ({specialties(k, entry)})"
    if kind == "fact":
        return entry.label
    if kind == "event":
        return "About the forum"
    if isinstance(entry, (Person, Topic, Specialty)):
        return entry.name
    return entry_id
