"""Pydantic models of every knowledge entry kind, and the validated knowledge base.

Every fact the assistant states comes from these entries, which come from the YAML files in
``knowledge/``; the bundled files are written from ../shared/seed/forum-article.txt only.
Doctor entries follow the shape of FHIR R4 Practitioner / PractitionerRole so that a
hospital's real directory maps onto them field by field.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .refs import EntryKind, EntryRef

Lang = Literal["en", "fr", "ar", "zh"]
LANGS: tuple[Lang, ...] = ("en", "fr", "ar", "zh")

EntryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
AliasText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class LocalizedMap(BaseModel):
    """The same text in several languages. English is required here; the others are
    required by ``forumbot check`` (bot.knowledge.translations) unless the knowledge sets
    ``translations: {english_first: true}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    en: Text
    fr: Text | None = None
    ar: Text | None = None
    zh: Text | None = None

    def get(self, lang: str, default: str | None = None) -> str | None:
        """Return the text in ``lang`` (None when missing), like dict.get."""
        text: str | None = getattr(self, lang, None)
        return text or default

    def __getitem__(self, lang: str) -> str:
        text: str = getattr(self, lang)
        return text


# Knowledge text that may carry translations: plain text (English), or
# {en: ..., fr: ..., ar: ..., zh: ...}; a reply uses the user's language where present.
LocalizedText = Text | LocalizedMap


def all_texts(value: str | LocalizedMap | None) -> list[str]:
    """Return every language version of a localized value (English first), [] for None."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [t for t in (value.en, value.fr, value.ar, value.zh) if t]


def text_in(value: str | LocalizedMap | None, lang: str) -> str | None:
    """Return a localized value in ``lang``, else in English; None for None."""
    if value is None or isinstance(value, str):
        return value
    return value.get(lang) or value.en


def _no_items() -> Any:
    """An empty list as a field's default, made anew for each entry: pydantic deep-copies
    a shared ``[]`` default for every entry that leaves the field out (a third of the
    validation time of 10,000 imported doctors). The JSON Schema still says ``[]``."""
    return Field(default_factory=list, json_schema_extra={"default": []})


class Entry(BaseModel):
    """Base of every model: unknown fields are errors, so a misspelt field name is caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NamedEntry(Entry):
    """An entry replies name and users pick (event, fact, person, talk, topic, specialty,
    doctor): its kind (the class's KIND) and id make its :class:`EntryRef`, under which
    :attr:`Knowledge.entries` registers it."""

    KIND: ClassVar[EntryKind]
    id: EntryId

    @property
    def ref(self) -> EntryRef:
        """This entry's reference; ``str(entry.ref)`` is "person:cai-bin"."""
        return EntryRef(self.KIND, self.id)


class Translated(Entry):
    """Alias lists per language (en, fr, ar, zh). English is required; the first English
    alias is the display name when the entry has no ``name``."""

    en: list[AliasText] = Field(min_length=1)
    fr: list[AliasText] = []
    ar: list[AliasText] = []
    zh: list[AliasText] = []

    def all(self) -> list[str]:
        """Return every alias of every language, English first."""
        return [*self.en, *self.fr, *self.ar, *self.zh]


class Event(NamedEntry):
    """The forum itself. ``date`` and ``start_time`` stay None while the source is silent."""

    KIND: ClassVar[EntryKind] = "event"
    id: EntryId
    name: LocalizedText
    aliases: list[AliasText] = []
    format: Literal["online", "in person", "hybrid"]
    host: LocalizedText
    co_organizers: list[LocalizedText] = []
    followers: int | None = Field(default=None, ge=0)
    year: int = Field(ge=1900, le=2100)
    date: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    start_time: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}$")] | None = None
    location: LocalizedText | None = None
    source_url: Text | None = None
    summary: LocalizedText


QuestionKind = Literal["who", "what", "how_many", "when", "where", "why"]
# question words also list yes/no openers ("was", "est-ce", "هل"), which start a question
QuestionWordKind = Literal["who", "what", "how_many", "when", "where", "why", "whether"]


class Fact(NamedEntry):
    """One answerable fact about the event (organisers, opening ceremony, ...).

    ``answer`` is the reply text; ``answer_from`` instead names an Event field whose value
    answers (and the bot says it does not know when that field is empty). ``unknown: true``
    marks what users ask but the article does not give (price, registration, other
    editions), with neither: the bot says the article does not say it, naming ``label``
    (a noun phrase), and adds what is known.
    ``answers`` lists the kinds of question it answers ("how_many" for the audience), so
    that the question word picks it among facts found by the same words.
    """

    KIND: ClassVar[EntryKind] = "fact"
    id: EntryId
    label: LocalizedText
    aliases: list[AliasText] = Field(min_length=1)
    answer: LocalizedText | None = None
    answer_from: Literal["date", "start_time", "location", "source_url"] | None = None
    answers: list[QuestionKind] = []
    unknown: bool = False
    people: list[EntryId] = []

    @field_validator("answer_from")
    @classmethod
    def _one_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("answer"):
            raise ValueError("give either answer or answer_from, not both")
        return value


class Person(NamedEntry):
    """A person the article names, with the name written as the article writes it."""

    KIND: ClassVar[EntryKind] = "person"
    id: EntryId
    name: Text
    aliases: list[AliasText] = _no_items()
    title: LocalizedText | None = None
    role: LocalizedText | None = None
    institution: LocalizedText | None = None
    country: LocalizedText | None = None
    at_forum: LocalizedText | None = None


class Talk(NamedEntry):
    """One expert talk of the programme, in article order."""

    KIND: ClassVar[EntryKind] = "talk"
    id: EntryId
    order: int = Field(ge=1)
    speaker: EntryId
    title: LocalizedText
    aliases: list[AliasText] = []
    topics: list[EntryId] = Field(min_length=1)
    summary: LocalizedText


class Topic(NamedEntry):
    """A clinical topic with synonyms, abbreviations, lay wording and translations.

    ``broader`` names wider topics: a question about the broader topic also finds talks
    on this one (postpartum hemorrhage is a kind of obstetric hemorrhage). ``umbrella``
    marks a theme shared by most talks; ``urgent_symptom`` adds the emergency numbers to
    answers about it, since its lay wording can describe something happening now.
    """

    KIND: ClassVar[EntryKind] = "topic"
    id: EntryId
    name: Text
    names: Translated
    broader: list[EntryId] = []
    umbrella: bool = False
    urgent_symptom: bool = False


class Specialty(NamedEntry):
    """A clinical specialty (FHIR PractitionerRole.specialty) with its names per language."""

    KIND: ClassVar[EntryKind] = "specialty"
    id: EntryId
    name: Text
    names: Translated


class Telecom(Entry):
    """FHIR ContactPoint. Only filled from a real source: never invented."""

    system: Literal["phone", "email", "url", "fax"]
    value: Text
    use: Literal["work", "mobile"] | None = None


class AvailableTime(Entry):
    """FHIR PractitionerRole.availableTime: days and local opening hours ("HH:MM")."""

    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1)
    start: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}$")]
    end: Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}$")]


class Doctor(NamedEntry):
    """A directory listing: FHIR PractitionerRole pointing at a Person (the Practitioner).

    Contact details, hours and addresses stay empty unless a real source gives them.
    """

    KIND: ClassVar[EntryKind] = "doctor"
    id: EntryId
    practitioner: EntryId
    qualification: list[LocalizedText] = _no_items()
    communication: list[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")]] = _no_items()
    specialty: list[EntryId] = Field(min_length=1)
    conditions: list[EntryId] = _no_items()
    organization: LocalizedText | None = None
    location: LocalizedText | None = None
    telecom: list[Telecom] = _no_items()
    available_times: list[AvailableTime] = _no_items()
    source: Text | None = None


class EmergencyNumber(Entry):
    """A public emergency number of one country."""

    country: LocalizedText
    number: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ]{2,20}$")]
    service: LocalizedText


GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")]


class Terms(Entry):
    """Words and phrases of one meaning, per language (Darija in Arabic script and in Latin
    letters goes under ``ar``; Chinese in simplified script, traditional is converted).

    A term of several words matches them in order, with at most one extra word between two
    of them; a Chinese term matches its characters side by side. ``context: true`` marks
    words that only set the scene (a person, a pregnancy, a baby): negation words never
    deny them ("I'm not sure, my wife is bleeding" still has "my wife")."""

    en: list[AliasText] = []
    fr: list[AliasText] = []
    ar: list[AliasText] = []
    zh: list[AliasText] = []
    context: bool = False

    def all(self) -> list[str]:
        """Return every term of every language, English first."""
        return [*self.en, *self.fr, *self.ar, *self.zh]


class Pattern(Entry):
    """One way to say a concept: every group of ``all`` has a term in the message, the
    terms found spanning at most ``within`` message units (words, or Chinese characters).
    ``negated``: the concept is an absence ("the baby is not moving"), so the pattern also
    needs a negation word among its terms or next to them (and its terms may be negated)."""

    all: list[GroupName] = Field(min_length=1, max_length=6)
    within: int | None = Field(default=None, ge=1, le=60)
    negated: bool = False


class Concept(Entry):
    """A red flag (or, in ``safety_net``, a health question): it fires when one of its
    patterns is found. ``name`` says what it is to admins and in ``forumbot ask --explain``."""

    id: EntryId
    name: Text
    when: list[Pattern] = Field(min_length=1)


class Negation(Entry):
    """What makes a red-flag term not a red flag now.

    ``before``: words that deny a term starting at most ``window`` units after them
    ("not", "no longer", "plus de", "ما", "不再"); ``after``: words that deny a term ending
    at most ``window`` units before them ("any more", "has stopped", "وقف", "止住了");
    ``past``: words that make a term within ``past_window`` units history ("years ago"; a
    year such as 2019 counts too). ``other_meaning``: longer words in which a red-flag word
    means something else ("blood pressure", "血压", "ضغط الدم"): it does not count there.
    A negation word inside a red-flag term is part of that term ("not breathing", "won't
    stop", "ما بغاش يوقف"), never a negation of it.
    """

    before: Terms = Terms()
    after: Terms = Terms()
    past: Terms = Terms()
    other_meaning: Terms = Terms()
    window: int = Field(default=2, ge=1, le=6)
    past_window: int = Field(default=6, ge=1, le=20)


class Emergency(Entry):
    """Urgent-symptom concepts, the health safety net, and the numbers given in replies.

    ``groups`` are named lists of terms; ``concepts`` (red flags: the emergency reply) and
    ``safety_net`` (the "I cannot give medical advice" reply) combine them by name.
    A red flag is not an emergency when the message is framed as a question about the
    programme or general information (a ``framing`` group, or a speaker named) and no
    ``personal`` term ("I'm", "my wife", "right now") stands near the red-flag words.
    """

    numbers: list[EmergencyNumber] = Field(min_length=1)
    groups: dict[GroupName, Terms] = Field(min_length=1)
    concepts: list[Concept] = Field(min_length=1)
    safety_net: list[Concept] = []
    negation: Negation = Negation()
    framing: list[GroupName] = []
    personal: list[GroupName] = []
    personal_window: int = Field(default=5, ge=0, le=20)

    @model_validator(mode="after")
    def _known_groups(self) -> Emergency:
        known = sorted(self.groups)
        for where, names in [("framing", self.framing), ("personal", self.personal)] + [
                (f"{kind} `{c.id}`", [g for p in c.when for g in p.all])
                for kind, concepts in (("concept", self.concepts),
                                       ("safety_net", self.safety_net)) for c in concepts]:
            for name in names:
                if name not in self.groups:
                    guess = difflib.get_close_matches(name, known, n=1)
                    hint = f" (did you mean `{guess[0]}`?)" if guess else ""
                    raise ValueError(f"{where}: `{name}` is not the name of a group in "
                                     f"`groups`{hint}")
        ids = [c.id for c in [*self.concepts, *self.safety_net]]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"concept ids must be unique: {', '.join(dupes)}")
        return self


class FollowUpWords(Entry):
    """Words that make a message a follow-up of the conversation, per language.

    ``pronouns`` stand for a person the last replies were about ("he", "elle", "他", "هي");
    ``not_pronouns`` are phrases whose pronoun-like words are not one ("il y a", "其他");
    ``more`` asks for more on the last subject ("tell me more"); ``ordinals[i]`` names the
    (i+1)-th choice shown ("second", "deuxième", "第二", "الثاني") and ``last`` the last one.
    Read by :mod:`bot.core.followup`; only used while a conversation has context.
    """

    pronouns: dict[Lang, list[AliasText]] = {}
    not_pronouns: dict[Lang, list[AliasText]] = {}
    more: dict[Lang, list[AliasText]] = {}
    ordinals: dict[Lang, list[list[AliasText]]] = {}
    last: dict[Lang, list[AliasText]] = {}


class Vocabulary(Entry):
    """General language vocabulary: words to ignore, spelling variants, intent cues.

    ``examples`` are the questions the greeting and help suggest, per language (they name
    real speakers and topics, so they live with the knowledge, not in code).
    ``markers`` are words that tell a language apart (with the stopwords) when a message
    is too short to tell otherwise ("bonjour", "merci").

    ``variants`` maps each group of spellings onto its first member before matching
    (settat, sedat, saidat). ``cues`` name words that steer the intent without naming an
    entry: ``doctor`` (find a doctor), ``speakers`` and ``sessions`` (list them), and
    ``greeting``, ``help``, ``about``, ``thanks``, ``bye``, ``ack`` (small talk, when the
    message names nothing else), ``offtopic`` (prices, weather: questions this bot must not
    answer even when they name a topic).

    ``questions`` are the question words per kind (who, what, how_many, when, where, why;
    "whether" for yes/no openers), any language: they pick the fact asked for, and they
    start the next question of a message that asks several. ``conjunctions`` ("and",
    "et", "و", "还有") may join such questions. ``context`` words are true of the whole
    forum ("forum", "online", "China", "medical team"): they count less than the words
    that define a question.
    ``followups`` are the words of follow-up questions (:class:`FollowUpWords`);
    ``languages`` the names a user may type to choose the language of answers ("français").
    ``subscription`` are the words a WeChat follower types, alone, to subscribe to the
    announcements or to stop them ("订阅", "se désabonner"): a phone keyboard has no slash
    commands.
    """

    stopwords: dict[Lang, list[AliasText]] = {}
    markers: dict[Lang, list[AliasText]] = {}
    examples: dict[Lang, list[AliasText]] = {}
    variants: list[list[AliasText]] = []
    cues: dict[Literal["doctor", "speakers", "sessions", "greeting", "help", "thanks", "about",
                       "bye", "ack", "offtopic"], list[AliasText]] = {}
    questions: dict[QuestionWordKind, list[AliasText]] = {}
    conjunctions: list[AliasText] = []
    context: list[AliasText] = []
    followups: FollowUpWords = FollowUpWords()
    languages: dict[Lang, list[AliasText]] = {}
    subscription: dict[Literal["subscribe", "unsubscribe"], list[AliasText]] = {}


class Translations(Entry):
    """How strictly the knowledge must be translated (section ``translations``).

    Every user-visible text (the fields of :data:`TRANSLATED_FIELDS`, and the display names
    of topics and specialties) needs English, French, Arabic and Chinese: a missing language
    is an error, so the bot never answers a French, Arabic or Chinese question in English.
    ``english_first: true`` lets an admin publish new text in English before its
    translations are ready: missing languages are then warnings and replies fall back to
    English for them.
    """

    english_first: bool = False


class Knowledge(BaseModel):
    """One validated knowledge version: every entry by kind, cross-references checked.

    Built by ``bot.knowledge.loader.load_knowledge``; read-only afterwards.
    """

    model_config = ConfigDict(frozen=True)

    event: Event
    facts: list[Fact] = []
    people: list[Person] = []
    talks: list[Talk] = []
    topics: list[Topic] = []
    specialties: list[Specialty] = []
    doctors: list[Doctor] = []
    emergency: Emergency
    vocabulary: Vocabulary = Vocabulary()
    translations: Translations = Translations()
    version: str = ""

    @cached_property
    def entries(self) -> dict[str, NamedEntry]:
        """The registry: every entry by the string form of its reference ("person:cai-bin",
        ``str(entry.ref)``), the ids a reply lists and a button carries."""
        out: dict[str, NamedEntry] = {str(self.event.ref): self.event}
        for entries in (self.facts, self.people, self.talks, self.topics, self.specialties,
                        self.doctors):
            out.update((str(e.ref), e) for e in entries)
        return out

    def entry(self, ref: EntryRef) -> NamedEntry | None:
        """The entry ``ref`` names, or None when this knowledge has none."""
        return self.entries.get(str(ref))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Knowledge:
        """Copy with changed fields; the cached lookups are dropped so they follow the update
        (pydantic copies the instance dict, where cached properties live)."""
        copy = super().model_copy(update=update, deep=deep)
        for name in _CACHED:
            copy.__dict__.pop(name, None)
        return copy

    # The kind names the entry's model: these overloads tell the type checker which one.
    @overload
    def get(self, kind: Literal["event"], entry_id: str) -> Event: ...
    @overload
    def get(self, kind: Literal["fact"], entry_id: str) -> Fact: ...
    @overload
    def get(self, kind: Literal["person"], entry_id: str) -> Person: ...
    @overload
    def get(self, kind: Literal["talk"], entry_id: str) -> Talk: ...
    @overload
    def get(self, kind: Literal["topic"], entry_id: str) -> Topic: ...
    @overload
    def get(self, kind: Literal["specialty"], entry_id: str) -> Specialty: ...
    @overload
    def get(self, kind: Literal["doctor"], entry_id: str) -> Doctor: ...
    @overload
    def get(self, kind: EntryKind, entry_id: str) -> NamedEntry: ...

    def get(self, kind: EntryKind, entry_id: str) -> NamedEntry:
        """Return the entry of this kind and id (KeyError when unknown)."""
        return self.entries[str(EntryRef(kind, entry_id))]

    @cached_property
    def _talks_by_speaker(self) -> dict[str, list[Talk]]:
        out: dict[str, list[Talk]] = {}
        for talk in sorted(self.talks, key=lambda t: t.order):
            out.setdefault(talk.speaker, []).append(talk)
        return out

    @cached_property
    def _doctor_by_person(self) -> dict[str, Doctor]:
        return {d.practitioner: d for d in self.doctors}

    def talks_by(self, person_id: str) -> list[Talk]:
        """Return the talks this person gave, in programme order."""
        return self._talks_by_speaker.get(person_id, [])

    def doctor_for(self, person_id: str) -> Doctor | None:
        """Return the directory listing of this person, or None when not a listed clinician."""
        return self._doctor_by_person.get(person_id)


_CACHED = ("entries", "_talks_by_speaker", "_doctor_by_person")

# The user-visible text of each entry kind: every one needs all four languages (see
# Translations). Names of people stay as the source writes them, in Latin letters.
TRANSLATED_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {
    Event: ("name", "host", "co_organizers", "location", "summary"),
    Fact: ("label", "answer"),
    Person: ("title", "role", "institution", "country", "at_forum"),
    Talk: ("title", "summary"),
    Doctor: ("qualification", "organization", "location"),
    EmergencyNumber: ("country", "service"),
}
