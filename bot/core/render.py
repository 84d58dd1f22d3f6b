"""Pure functions that turn knowledge entries into reply text (plain text, no markup).

Every fact in a reply comes from the entry passed in; the fixed wording here is interface
text, translated through the gettext catalogs (:mod:`bot.i18n`) into the language of the
reply being built. Where the knowledge has no value (contact details, hours, the forum's
date) the text says the source does not give it, never a guess.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from bot.i18n import _, current, localized, ngettext, number
from bot.knowledge.models import Doctor, Event, Fact, Knowledge, Lang, Person, Specialty, Talk, Topic


def disclaimer() -> str:
    """Return the one-line note that ends answers about medical topics and doctors."""
    return _("Note: this is information about the forum and its speakers, not medical "
             "advice. For your own care, ask your doctor or midwife.")


def not_given() -> str:
    """Return the words for a value the article does not give."""
    return _("not given in the forum article")


def name_of(entry: Topic | Specialty) -> str:
    """Return a topic's or specialty's name in the current language (its first name in that
    language, else its English name)."""
    names = getattr(entry.names, current(), None) or []
    name = names[0] if names and current() != "en" else entry.name
    return name[:1].upper() + name[1:]


MAX_DOCTOR_CARDS = 10  # cards in one reply (a Telegram message holds about 15)


def numbers_line(k: Knowledge) -> str:
    """Return the emergency numbers as one line: "Morocco: 141 (SAMU ...) or 15 (...); ..."."""
    by_country: dict[str, list[str]] = {}
    for n in k.emergency.numbers:
        by_country.setdefault(localized(n.country), []).append(
            f"{n.number} ({localized(n.service)})")
    joiner = " " + _("or") + " "
    return _("; ").join(_("{country}: {numbers}").format(country=c, numbers=joiner.join(v))
                        for c, v in by_country.items())


def listing(items: Iterable[str]) -> str:
    """Join names with the list separator of the current language (", ", "، ", "、")."""
    return _(", ").join(items)


def emergency(k: Knowledge) -> str:
    """Return the emergency reply: numbers and the emergency department, first and alone."""
    return "\n".join([
        _("This may be an emergency. Call now: {numbers}.").format(numbers=numbers_line(k)),
        _("Go to the nearest emergency department (hospital emergency room) at once; do not "
          "wait for an answer in this chat."),
        _("If someone is not breathing or has lost consciousness, call before anything else."),
    ])


def health_advice(k: Knowledge) -> str:
    """Return the safety-net reply to a health question the bot must not answer: the
    numbers "if this is urgent" first, then no advice, then the user's doctor or midwife
    and the Find a Doctor list."""
    return "\n".join([
        _("If this is urgent, call {numbers}, or go to the nearest emergency "
          "department.").format(numbers=numbers_line(k)),
        _("I cannot give medical advice: I only know about the forum and its speakers."),
        _("For your own situation, please ask your doctor or midwife. The Find a Doctor "
          "list below can help you find a clinician."),
    ])


def urgent_hint(k: Knowledge) -> str:
    """Return the one line added to answers on topics that can describe an emergency."""
    return _("If this is happening to you now, call {numbers}, or go to the nearest "
             "emergency department.").format(numbers=numbers_line(k))


def person_name(k: Knowledge, person_id: str) -> str:
    """Return the display name of a person id."""
    return k.get("person", person_id).name


def speaker_of(k: Knowledge, talk: Talk) -> Person:
    """Return the person who gave ``talk``."""
    return k.get("person", talk.speaker)


def talk_line(k: Knowledge, talk: Talk) -> str:
    """Return one programme line: "4. Cai Bin: <subject>"."""
    return f"{talk.order}. " + _("{name}: {subject}").format(name=speaker_of(k, talk).name,
                                                            subject=localized(talk.title))


def talk_card(k: Knowledge, talk: Talk) -> str:
    """Return a talk with its speaker, subject, topics and summary."""
    topics = listing(name_of(k.get("topic", t)) for t in talk.topics)
    return "\n".join([_("{name}: {subject}").format(name=speaker_of(k, talk).name,
                                                    subject=localized(talk.title)),
                      _("Topics: {topics}.").format(topics=topics), localized(talk.summary)])


def person_card(k: Knowledge, person: Person) -> str:
    """Return who a person is (role, institution), what they did at the forum, their talks."""
    role = localized(person.role) if person.role else ""
    first = _("{name}, {role}").format(name=person.name, role=role) if role else person.name
    institution = localized(person.institution) if person.institution else ""
    if institution and institution not in role:
        first += f" ({institution})"
    lines = [_("{sentence}.").format(sentence=first)]
    talks = k.talks_by(person.id)
    if talks:
        lines += [_("Talk subject: {subject}.").format(subject=localized(t.title)) + "\n"
                  + localized(t.summary) for t in talks]
    elif person.at_forum:
        lines.append(localized(person.at_forum))
    doctor = k.doctor_for(person.id)
    if doctor:
        line = _("Find a Doctor: listed under {specialties}.").format(
            specialties=specialties(k, doctor))
        if not doctor.telecom:
            line += " " + _("Contact details and hours: {unknown}.").format(unknown=not_given())
        lines.append(line)
    return "\n".join(lines)


def specialties(k: Knowledge, doctor: Doctor) -> str:
    """Return the doctor's specialties as "Obstetrics and gynecology, ..."."""
    return listing(name_of(k.get("specialty", s)) for s in doctor.specialty)


def doctor_card(k: Knowledge, doctor: Doctor) -> str:
    """Return a directory card; empty FHIR fields are said to be unknown, never guessed."""
    person = k.get("person", doctor.practitioner)
    lines = [_("{name}: {specialties}.").format(name=person.name,
                                                specialties=specialties(k, doctor))]
    if doctor.conditions:
        topics = listing(name_of(k.get("topic", c)) for c in doctor.conditions)
        lines.append(_("Spoke at the forum on: {topics}.").format(topics=topics))
    if doctor.organization:
        lines.append(_("Organisation: {name}.").format(name=localized(doctor.organization)))
    if doctor.location:
        lines.append(_("Location: {place}.").format(place=localized(doctor.location)))
    if doctor.communication:
        lines.append(_("Languages: {codes}.").format(codes=", ".join(doctor.communication)))
    if doctor.telecom:
        lines.append(_("Contact: {contact}.").format(
            contact=", ".join(f"{t.system} {t.value}" for t in doctor.telecom)))
    else:
        lines.append(_("Contact details, hours and address: {unknown}.").format(
            unknown=not_given()))
    if doctor.available_times:
        lines.append(_("Hours: {hours}.").format(hours="; ".join(
            f"{'/'.join(a.days)} {a.start}-{a.end}" for a in doctor.available_times)))
    return "\n".join(lines)


def doctors_list(k: Knowledge, doctors: list[Doctor], none_on: Sequence[Topic] = ()) -> str:
    """Return the doctor cards found, the first MAX_DOCTOR_CARDS of them (a directory of
    thousands has hundreds per specialty: a chat reply shows a few and says how many);
    ``none_on`` names asked topics none of them spoke on."""
    head = ""
    if none_on:
        head = _("None of them spoke on {topics} at the forum.").format(
            topics=_join(name_of(t).lower() for t in none_on)) + "\n"
    count = ngettext("Find a Doctor: {count} clinician.", "Find a Doctor: {count} clinicians.",
                     len(doctors)).format(count=number(len(doctors)))
    shown = doctors[:MAX_DOCTOR_CARDS]
    text = head + count + "\n\n" + "\n\n".join(doctor_card(k, d) for d in shown)
    if len(doctors) > len(shown):
        text += "\n\n" + _("Showing {shown} of {count}: ask with a name, a city or a condition "
                           "to see the others.").format(shown=number(len(shown)),
                                                        count=number(len(doctors)))
    return text


def no_clinician(k: Knowledge, topics: list[Topic]) -> str:
    """Return the answer when no clinician of the directory spoke on the asked topics."""
    return _("No clinician in the directory spoke on {topics} at the forum.").format(
        topics=_join(name_of(t).lower() for t in topics)) + "\n" + directory_overview(k)


def no_match_for_doctor(k: Knowledge) -> str:
    """Return the answer to "/doctor <words>" when the words name no specialty or topic."""
    return _("I found no specialty or condition matching that.") + "\n" + directory_overview(k)


def directory_overview(k: Knowledge) -> str:
    """Return the Find a Doctor overview: every specialty with its clinicians."""
    lines = [ngettext("Find a Doctor lists the {count} clinician who spoke at the forum:",
                      "Find a Doctor lists the {count} clinicians who spoke at the forum:",
                      len(k.doctors)).format(count=number(len(k.doctors)))]
    for sp in k.specialties:
        names = [person_name(k, d.practitioner) for d in k.doctors if sp.id in d.specialty]
        if names:
            lines.append("- " + _("{name}: {subject}").format(name=name_of(sp),
                                                              subject=listing(names)))
    lines.append(_("Tell me a specialty or a condition (for example: midwife, preeclampsia)."))
    lines.append(_("Contact details and hours are {unknown}.").format(unknown=not_given()))
    return "\n".join(lines)


def _join(names: Iterable[str]) -> str:
    return (" " + _("and") + " ").join(names)


def topic_talks(k: Knowledge, topics: list[Topic], talks: list[Talk]) -> str:
    """Return the talks that covered the asked topics."""
    names = _join(name_of(t).lower() for t in topics)
    if len(talks) == 1:
        return _("At the forum, {topics} was covered by this talk:").format(topics=names) + \
            "\n" + talk_card(k, talks[0])
    return (ngettext("At the forum, {topics} was covered by {count} talk:",
                     "At the forum, {topics} was covered by {count} talks:", len(talks)).format(
        topics=names, count=number(len(talks))) + "\n\n" + "\n\n".join(talk_card(k, t) for t in talks))


def talks_found(k: Knowledge, talks: list[Talk]) -> str:
    """Return the cards of talks found by their subject."""
    return "\n\n".join(talk_card(k, t) for t in talks)


def programme(k: Knowledge) -> str:
    """Return every talk in programme order."""
    talks = sorted(k.talks, key=lambda t: t.order)
    return (_("The expert talks, in programme order:") + "\n"
            + "\n".join(talk_line(k, t) for t in talks) + "\n" + date_sentence(k.event))


def forum_people(k: Knowledge) -> tuple[list[Person], list[Person]]:
    """Return (the talks' speakers in programme order, the other people the facts name:
    the opening and closing). People only in the Find a Doctor directory are in neither."""
    talk_people = [k.get("person", t.speaker) for t in sorted(k.talks, key=lambda t: t.order)]
    # ids, not models: comparing pydantic models field by field is slow with many people
    listed = {p.id for p in talk_people}
    named = dict.fromkeys(pid for f in k.facts for pid in f.people if pid not in listed)
    return talk_people, [k.get("person", pid) for pid in named]


def speakers(k: Knowledge) -> str:
    """Return the speakers of the talks, then the other people of the opening and closing
    (:func:`forum_people`)."""
    talk_people, others = forum_people(k)
    lines = [_("Speakers of the expert talks:")]
    lines += [f"- {p.name}" + (f" ({localized(p.title)})" if p.title else "")
              for p in talk_people]
    if others:
        lines.append(_("Also at the opening and closing: {names}.").format(
            names=listing(p.name for p in others)))
    return "\n".join(lines)


def date_sentence(event: Event) -> str:
    """Return what is known of the date and time; says so when the source gives none."""
    if event.date:
        if event.start_time:
            return _("The forum took place on {date} at {time}.").format(
                date=event.date, time=event.start_time)
        return _("The forum took place on {date}.").format(date=event.date)
    return _("The forum was held {format} in {year}; the source article does not give its "
             "exact date or time, so I cannot tell you that.").format(
                 format=format_word(event.format), year=event.year)


def format_word(fmt: str) -> str:
    """Return the event format ("online", "in person", "hybrid") in the current language."""
    return {"online": _("online"), "in person": _("in person"), "hybrid": _("hybrid")}[fmt]


def fact(k: Knowledge, item: Fact) -> str:
    """Return a fact's answer (from its text or the event field it names)."""
    if item.answer_from in ("date", "start_time"):
        return date_sentence(k.event)
    if item.answer_from == "source_url":
        if not k.event.source_url:
            return _("The knowledge gives no link to the source article.")
        return _("The source is the article \"{name}\": {url}").format(
            name=localized(k.event.name), url=k.event.source_url)
    if item.answer_from == "location":
        if k.event.location:
            return _("The forum took place at {place}.").format(
                place=localized(k.event.location))
        return _("The forum was held {format}; no venue is given in the article.").format(
            format=format_word(k.event.format))
    return localized(item.answer) if item.answer else ""


def event_overview(k: Knowledge) -> str:
    """Return what the forum was: name, summary, format and audience."""
    e = k.event
    last = (ngettext("It was held {format} and gained {followers} online follower.",
                     "It was held {format} and gained {followers} online followers.",
                     e.followers).format(format=format_word(e.format),
                                         followers=number(e.followers)) if e.followers else
        _("It was held {format}.").format(format=format_word(e.format)))
    return f"{localized(e.name)}.\n{localized(e.summary)}\n{last}"


def greeting(k: Knowledge) -> str:
    """Return the welcome text with example questions."""
    return "\n".join([
        _("Hello! I am Summit Assistant, for the {forum}.").format(forum=localized(k.event.name)),
        _("Ask me about the talks, the speakers, or to find a doctor. For example:"),
        *(f"- {q}" for q in examples(k)),
        _("In an emergency, call {numbers}.").format(numbers=numbers_line(k)),
    ])


def help_text(k: Knowledge) -> str:
    """Return what the assistant can do and the commands it knows."""
    return "\n".join([
        _("I answer questions about the forum, its talks and speakers, and the Find a Doctor "
          "directory, in English, French, Arabic or Chinese."),
        _("Commands: /sessions (programme), /speakers, /doctor [specialty or condition], "
          "/emergency, /about, /language, /help."),
        _("Examples: {questions}").format(questions=listing(f"“{q}”" for q in examples(k))),
    ])


def examples(k: Knowledge) -> list[str]:
    """Return the example questions of the knowledge's vocabulary in the current language
    (English when that language has none)."""
    by_language = k.vocabulary.examples
    return by_language.get(cast(Lang, current())) or by_language.get("en", [])  # current(): a Lang


def unknown_command(k: Knowledge, name: str) -> str:
    """Return the answer to a command the bot does not know (``name`` already sanitised)."""
    return _("I do not know the command /{name}.").format(name=name) + "\n" + help_text(k)


def fallback(doubtful: bool) -> str:
    """Return the fallback text: unsure (with options) or nothing found."""
    if doubtful:
        return _("I am not sure I understood. Did you mean one of these?")
    return _("Sorry, I found nothing about that. I answer questions about the Sino-Morocco "
             "summit forum on high-risk pregnancy: its talks, its speakers and the Find a "
             "Doctor directory of its clinicians. Try one of these, or type /help.")


def ambiguous() -> str:
    """Return the text that asks which of several equally good entries was meant."""
    return _("I am not sure which one you mean. Did you mean one of these?")


def pick_a_number(count: int) -> str:
    """Return how to pick one of ``count`` options shown (a number past them was typed)."""
    return _("Please type a number from 1 to {count}, or a question.").format(count=count)


def expired() -> str:
    """Return the notice for a stale or forged button."""
    return _("That option has expired. Please ask your question again.")


def text_only() -> str:
    """Return the note answering a message without text (a photo, voice note, sticker)."""
    return _("I read text messages: please type your question.")


def open_chat() -> str:
    """Return the note for a button whose answer cannot be delivered: the user has no chat
    with the bot yet (a button under an inline-mode result)."""
    return _("Open a chat with me and press Start to read the answer.")


def from_speech(transcript: str) -> str:
    """Return the line saying which words were understood from a voice message."""
    return _('From your voice message I understood: "{text}"').format(text=transcript)


def language_set(name: str | None) -> str:
    """Return the confirmation of /language: ``name`` of the chosen language, None = auto."""
    if name is None:
        return _("I will answer in the language of each message.")
    return _("I will answer in {language}.").format(language=name)


def thanks() -> str:
    """Return the reply to thanks or goodbye."""
    return _("You are welcome. Ask me any time about the forum, its talks or its doctors.")


def goodbye() -> str:
    """Return the reply to a goodbye."""
    return _("Goodbye! Come back any time with questions about the forum, its talks or its "
             "doctors.")


def acknowledged() -> str:
    """Return the reply to "ok", "great", "d'accord": the user may ask more."""
    return _("Good. Ask me anything else about the forum, its talks, its speakers or its "
             "doctors.")


def about_me(k: Knowledge) -> str:
    """Return what the assistant is (a program, not a person) and what it can do."""
    return _("I am Summit Assistant, an automatic assistant: a computer program, not a "
             "person.") + "\n" + help_text(k)


def unknown_fact(k: Knowledge, item: Fact, people: list[Person]) -> str:
    """Return the answer to something the article does not give (``item.unknown``): say so,
    naming the fact's label, with what the article says of the people asked about and of
    the forum (its format and year, from the event entry)."""
    lines = [_("The forum article does not say anything about {what}.").format(
        what=localized(item.label))]
    for person in people:
        said = localized(person.at_forum) if person.at_forum else \
            localized(person.role) if person.role else ""
        if said:
            lines.append(_("About {name}, it says: {said}").format(name=person.name, said=said))
    lines.append(_("What it does say: the forum was held {format} in {year}.").format(
        format=format_word(k.event.format), year=k.event.year))
    return "\n".join(lines)


def unknown_person(written: str, names: list[str]) -> str:
    """Return the answer to a name the knowledge does not have that shares a part with
    known names: "I don't know Li Na; did you mean Li Jinbao?"."""
    return _("I don't know {name}; did you mean {candidates}?").format(
        name=written, candidates=(" " + _("or") + " ").join(names))


def heard_as(written: str, name: str) -> str:
    """Return the note that says which name was understood from another script."""
    return _("(I read {written} as {name}.)").format(written=written, name=name)


def section_label(key: str) -> str:
    """Return the button label of a section ("list:sessions" -> "Programme")."""
    return {"list:sessions": _("Programme"), "list:speakers": _("Speakers"),
            "list:doctors": _("Find a doctor"), "help": _("Help")}[key]


def doctor_card_label() -> str:
    """Return the label of the button that opens a person's Find a Doctor card."""
    return _("Find a Doctor card")


def emergency_label() -> str:
    """Return the title of the emergency guidance offered as an inline result."""
    return _("Emergency: call now")


def all_speakers_label() -> str:
    """Return the label of the button that lists all speakers."""
    return _("All speakers")


def shorten(text: str, limit: int) -> str:
    """Return ``text`` cut at a word boundary to at most ``limit`` characters, with "…"."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def label(k: Knowledge, key: str) -> str:
    """Return the short label of an entry key ("person:cai-bin" -> "Cai Bin").

    Raises:
        KeyError: ``key`` names no entry of ``k``.
    """
    entry = k.entries[key]
    if isinstance(entry, Talk):
        return shorten(_("{name}: {subject}").format(name=speaker_of(k, entry).name,
                                                     subject=localized(entry.title)), 60)
    if isinstance(entry, Doctor):
        return f"{person_name(k, entry.practitioner)} ({specialties(k, entry)})"
    if isinstance(entry, Fact):
        return localized(entry.label)
    if isinstance(entry, Event):
        return _("About the forum")
    if isinstance(entry, (Topic, Specialty)):
        return name_of(entry)
    if isinstance(entry, Person):
        return entry.name
    return entry.id
