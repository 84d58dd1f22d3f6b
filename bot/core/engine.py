"""The channel-agnostic intent engine: ``Assistant.reply(Message) -> Reply``.

Order of decisions, and why:
1. Commands ("/sessions", "/doctor midwife") are exact and decided first.
2. Urgent symptoms get the emergency reply before anything else (health safety first):
   :mod:`bot.core.emergency` triages the message with the concepts of emergency.yaml.
3. A message that asks several questions ("who organised it and how many followed it?")
   is split at its question words; each part, up to three, is answered in order, in one
   reply (bot.core.questions).
4. Small talk (greeting, help, thanks, goodbye, "ok", "are you a robot?") is recognised by
   its words when they are what the message says, so "hi" never lands on a name.
5. Otherwise the match index finds the entries mentioned, and their kinds decide the
   intent: a named person -> speaker (or doctor when a doctor is asked for); a specialty,
   or a condition with a doctor cue -> doctor; a topic or talk -> session; an event fact ->
   event; list cues -> the programme or the speakers; the forum itself -> event. Among
   facts, the question word picks ("how many" -> the audience), and words true of the
   whole forum ("online", "China") weigh less than the words that define the question.
   Something the article does not give (a fact marked unknown: price, registration) is
   said to be unknown, with what is known. A surname with a given name the knowledge does
   not have ("Li Na") is a different person: "I don't know Li Na; did you mean ...?".
6. Confidence = match score x how much of the message the match explains. Below
   ANSWER_MIN, or when two entries match the same words almost equally, the reply is a
   fallback that asks "did you mean ...?" with the candidates as choices.
7. The safety net: a health question (a personal situation, a medical question) gets the
   "health" reply (numbers if urgent, no advice, a doctor or midwife) instead of the
   answer, unless it asks about the programme or the directory, or the answer is
   CONFIDENT, and is answered; never a bare fallback or a menu of unrelated talks.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar, cast

from rapidfuzz.distance import OSA

from bot.i18n import SUPPORTED, isolate_ltr, language
from bot.knowledge.models import (
    Doctor,
    Fact,
    Knowledge,
    NamedEntry,
    Person,
    Specialty,
    Talk,
    Topic,
)
from bot.knowledge.refs import EntryRef, ref_key

from . import phonetic, render
from .emergency import EmergencyDetector
from .entries import build_index
from .followup import FollowUp, FollowUpFinder
from .index import Analysis, Mention
from .language import LanguageDetector
from .questions import QuestionWords
from .types import Candidate, Choice, Context, Intent, Message, Reply

log = logging.getLogger(__name__)


class _HasId(Protocol):
    """A knowledge entry, as far as ranking needs it."""

    @property
    def id(self) -> str: ...


_E = TypeVar("_E", bound=NamedEntry)  # an entry model (Fact, Person, Topic, ...)
_I = TypeVar("_I", bound=_HasId)  # talks or doctors covering topics

MAX_MESSAGE_CHARS = 1000   # longer messages are read up to here (a chat question is short)
MAX_TRIAGE_CHARS = 10_000  # ... but a red flag is looked for this far (channels cap below)
ANSWER_MIN = 0.55          # below this confidence the bot asks instead of answering
CONFIDENT = 0.9            # a health question answered this surely is about the programme
AMBIGUITY_MARGIN = 0.05    # two entries closer than this on the same words: ask which
MAX_PEOPLE = 3
MAX_CHOICES = 4
FOLLOW_UP_CONFIDENCE = 0.9  # a pronoun resolved from context: sure, but not a named entry
HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,40}>")  # pasted markup, e.g. "<b>hi</b>"

LISTS = ("list:sessions", "list:speakers", "list:doctors", "help")
# command names and /start payloads -> the section they open
SECTIONS = {"sessions": "list:sessions", "programme": "list:sessions", "program": "list:sessions",
            "speakers": "list:speakers", "doctor": "list:doctors", "doctors": "list:doctors",
            "help": "help"}
SMALLTALK: dict[str, Intent] = {"greeting": "greeting", "help": "help", "about": "help",
                                "thanks": "smalltalk", "bye": "smalltalk", "ack": "smalltalk"}
SMALLTALK_ORDER = ("thanks", "bye", "about", "help", "greeting", "ack")
SUBSTANTIVE_CUES = ("doctor", "speakers", "sessions", "offtopic")
CONTEXT_WEIGHT = 0.5       # a mention found only through words true of the whole forum
KIND_FACTS = ("when", "where", "how_many", "why")  # kinds one fact answers for the forum
SHORT_NAME = 4             # a name word this short, changed, is another name, not a typo


class Assistant:
    """Answers messages from one knowledge version.

    Args:
        knowledge: a validated :class:`~bot.knowledge.models.Knowledge`; the match index is
            built here, once (to change knowledge, build a new Assistant and swap it in).
    """

    def __init__(self, knowledge: Knowledge):
        self.k = knowledge
        self.index = build_index(knowledge)
        self.detector = EmergencyDetector(knowledge.emergency, self.index.units,
                                          self.index.known_words)
        self.language = LanguageDetector(knowledge.vocabulary.stopwords,
                                         knowledge.vocabulary.markers,
                                         name_words=self.index.name_words)
        self.followups = FollowUpFinder(knowledge.vocabulary.followups)
        self._topic_talks = _coverage(knowledge, [(t, t.topics) for t in knowledge.talks])
        self._topic_doctors = _coverage(knowledge, [(d, d.conditions) for d in knowledge.doctors])
        self.questions = QuestionWords(knowledge.vocabulary, self.index.units)
        self._own_words: dict[str, frozenset[str]] = {}  # person id -> words of its names
        self._text_units: dict[str, list[str]] = {}  # name or alias text -> its units
        # words the knowledge knows other than as parts of people's names: "hospital" next
        # to a surname is not a given name, "ming" (in Xu Xianming) may be
        self._words = self.index.stopwords | self.index.other_words
        self.context = frozenset(w for c in knowledge.vocabulary.context
                                 for w in self.index.units(c))

    # -- entry points ---------------------------------------------------------------------
    def reply(self, message: Message) -> Reply:
        """Answer one message.

        Args:
            message: the user's text (any str; searched up to MAX_MESSAGE_CHARS characters,
                triaged for urgent symptoms up to MAX_TRIAGE_CHARS: a frightened user's long
                account may name the danger sign last).
        Returns:
            a :class:`Reply`; never raises: a fault of the engine itself is logged and the
            user gets the fallback, so one bad message never takes a channel down.
        """
        text = HTML_TAG.sub(" ", message.text[:MAX_MESSAGE_CHARS])
        context = message.context
        if message.lang in SUPPORTED:
            lang = message.lang
        elif context and context.lang in SUPPORTED and not any(c.isalpha() for c in text):
            lang = context.lang  # "2", "?": nothing to tell a language by; keep the last one
        else:
            lang = self.language.detect(text)
        # a long account is searched by its start but triaged whole: it may name the
        # danger sign last
        whole = (HTML_TAG.sub(" ", message.text[:MAX_TRIAGE_CHARS])
                 if len(message.text) > MAX_MESSAGE_CHARS else "")
        with language(lang):
            try:
                return self._reply_to(text, lang, context, whole)
            except Exception:  # noqa: BLE001 - the safety net of every channel
                log.exception("reply failed (message of %d characters)", len(message.text))
                return self._reply("fallback", render.fallback(doubtful=False), lang,
                                   choices=_list_choices(), confidence=0.0)

    def _reply_to(self, text: str, lang: str, context: Context | None = None,
                  whole: str = "") -> Reply:
        stripped = text.strip()
        if not stripped:
            return self._reply("help", render.help_text(self.k), lang, choices=_list_choices())
        if stripped.startswith("/"):
            return self._command(stripped, lang)
        analysis = self.index.analyse(text)
        # a name heard from another script is a guess: it never makes an urgent message a
        # programme question
        names = any(m.kind == "person" and not m.heard for m in analysis.mentions)
        triage = self.detector.triage(self.index.units(whole) if whole else analysis.units,
                                      names)
        if triage.urgent:
            return self._emergency(lang, triage.urgent)
        parts = [] if triage.health else self.questions.split(text)
        if len(parts) > 1:
            several = self._several(parts, lang)
            if several:
                return several
        small = self._smalltalk(analysis, lang)
        if small:
            return small
        if context is not None:
            follow = self._follow_up(analysis, context, lang)
            if follow is not None:
                return follow
        answer = self._answer(analysis, lang)
        # a price or an unrelated contact is no health question; the programme or the
        # directory answers a health question only when it asks for them, or is sure
        framed = triage.framed or "doctor" in analysis.cues
        if triage.health and "offtopic" not in analysis.cues and (
                answer.intent == "fallback" or not (framed or answer.confidence >= CONFIDENT)):
            return self._health(lang, triage.health)
        return answer

    def _single(self, a: Analysis, lang: str) -> Reply:
        small = self._smalltalk(a, lang)
        return small or self._answer(a, lang)

    def _several(self, parts: list[str], lang: str) -> Reply | None:
        """Answer each question of a message in order, in one reply; None when fewer than
        two parts get an answer (the whole message is then answered as one question)."""
        answered: list[Reply] = []
        for part in parts:
            reply = self._single(self.index.analyse(part), lang)
            if reply.intent in ("fallback", "greeting", "help", "smalltalk"):
                continue
            if any(r.ids == reply.ids for r in answered):
                continue
            answered.append(reply)
        if len(answered) < 2:
            return None
        choices = tuple(dict.fromkeys(c for r in answered for c in r.choices))[:MAX_CHOICES]
        return Reply(intent=answered[0].intent, text="\n\n".join(r.text for r in answered),
                     choices=choices, ids=tuple(dict.fromkeys(i for r in answered
                                                              for i in r.ids)),
                     confidence=min(r.confidence for r in answered), lang=lang,
                     candidates=answered[0].candidates)

    def knows(self, choice_id: str) -> bool:
        """True when ``choice_id`` is a choice this knowledge version can answer (a button
        from an older version or forged callback data is not)."""
        return choice_id in LISTS or choice_id == "emergency" or choice_id in self.k.entries

    def choose(self, choice_id: str, lang: str = "en") -> Reply:
        """Answer a choice the user picked (a button): ``choice_id`` is a Choice.id.

        Args:
            choice_id: the Choice.id; lang: the language to answer in.
        Returns:
            the answer; unknown, stale or forged ids get the "option has expired" fallback.
        """
        with language(lang):
            return self._choose(choice_id, lang)

    def _choose(self, choice_id: str, lang: str) -> Reply:
        if choice_id in LISTS:
            return self._list(choice_id, lang)
        if choice_id == "emergency":
            return self._emergency(lang, "asked")
        entry = self.k.entries.get(choice_id)
        if entry is None:
            return self._reply("fallback", render.expired(), lang, confidence=0.0,
                               choices=_list_choices())
        mention = Mention(choice_id, "", 1.0, frozenset())
        if isinstance(entry, Person):
            return self._people([mention], lang, 1.0, doctor=False)
        if isinstance(entry, Doctor):
            return self._doctor_cards([entry], lang, 1.0, [choice_id])
        if isinstance(entry, (Topic, Talk)):
            return self._sessions([mention], lang, 1.0)
        if isinstance(entry, Specialty):
            return self._doctors([mention], [], lang, 1.0)
        if isinstance(entry, Fact):
            text = (render.unknown_fact(self.k, entry, []) if entry.unknown else
                    render.fact(self.k, entry))
            return self._reply("event", text, lang, ids=(choice_id,))
        return self._reply("event", render.event_overview(self.k), lang, ids=(choice_id,))

    # -- follow-ups -----------------------------------------------------------------------
    def _follow_up(self, a: Analysis, context: Context, lang: str) -> Reply | None:
        """Answer a message that refers to the conversation's context, or return None.

        A message naming an entry outside its follow-up words is not a follow-up: a new
        name always wins. Then: an ordinal picks one of the choices last shown; a pronoun
        stands for the person the last replies were about (several: ask which); "tell me
        more" opens the first entry the last reply was about.
        """
        found = self.followups.find(a.units)
        if not (found.pronoun or found.more or found.ordinal is not None):
            return None
        if any(not m.description and not m.positions <= found.positions
               for m in a.mentions):
            return None
        if found.ordinal is not None and context.choices and \
                a.content <= found.positions | _steering(a):
            picked = self._picked(found, context.choices, lang)
            if picked is not None:
                return picked
        if found.pronoun:
            people = self._people_in(context.ids)
            if len(people) == 1:
                mention = Mention(people[0], "", 1.0, found.positions)
                return self._people([mention], lang, FOLLOW_UP_CONFIDENCE,
                                    doctor="doctor" in a.cues, a=a)
            if people:
                choices = tuple(Choice(key, render.label(self.k, key))
                                for key in people[:MAX_CHOICES])
                return self._reply("fallback", render.ambiguous(), lang, choices=choices,
                                   confidence=0.5)
        if found.more:
            known = [key for key in context.ids if key in self.k.entries]
            if known:
                return self._choose(known[0], lang)
        return None

    def _picked(self, found: FollowUp, choices: tuple[str, ...], lang: str) -> Reply | None:
        """The choice an ordinal names; a number past the options gets how to pick."""
        ordinal = found.ordinal if found.ordinal is not None else 0
        index = len(choices) - 1 if ordinal == -1 else ordinal - 1
        if 0 <= index < len(choices):
            return self._choose(choices[index], lang)
        shown = tuple(Choice(key, render.section_label(key) if key in LISTS else
                             render.label(self.k, key))
                      for key in choices if key in LISTS or key in self.k.entries)
        return self._reply("fallback", render.pick_a_number(len(choices)), lang,
                           confidence=0.0, choices=shown[:MAX_CHOICES] or _list_choices())

    def _people_in(self, ids: tuple[str, ...]) -> list[str]:
        """Person keys the entries ``ids`` are about, in order: the people themselves, the
        speakers of talks, the practitioners of doctor listings."""
        out: list[str] = []
        for key in ids:
            entry = self.k.entries.get(key)
            person = (key if isinstance(entry, Person) else
                      ref_key("person", entry.speaker) if isinstance(entry, Talk) else
                      ref_key("person", entry.practitioner) if isinstance(entry, Doctor)
                      else None)
            if person is not None and person in self.k.entries and person not in out:
                out.append(person)
        return out

    # -- decisions ------------------------------------------------------------------------
    def _command(self, text: str, lang: str) -> Reply:
        # Command and argument part at any whitespace: a phone's Shift+Enter (newline), a
        # tab or a no-break space separate them as well as a space does.
        word, rest = split_command(text)
        name = word.split("@", 1)[0].lower()
        if name == "start":  # a deep-link payload opens that section: "/start doctors"
            target = SECTIONS.get(rest.lower())
            if target:
                return self._list(target, lang)
            return self._reply("greeting", render.greeting(self.k), lang, choices=_list_choices())
        if name == "doctor" and rest:
            analysis = self.index.analyse(rest)
            found = [m for m in analysis.mentions if m.kind in ("specialty", "topic")]
            if found:
                return self._doctors([m for m in found if m.kind == "specialty"],
                                     [m for m in found if m.kind == "topic"], lang, 1.0)
            return self._reply("doctor", render.no_match_for_doctor(self.k), lang,
                               confidence=0.0, choices=self._list("list:doctors", lang).choices)
        if name == "emergency":
            return self._emergency(lang, "asked")
        if name == "about":
            return self._reply("event", render.event_overview(self.k), lang,
                               ids=(str(self.k.event.ref),))
        target = SECTIONS.get(name)
        if target:
            return self._list(target, lang)
        shown = "".join(ch for ch in name[:32] if ch.isalnum() or ch in "_-")
        return self._reply("help", render.unknown_command(self.k, shown), lang,
                           choices=_list_choices())

    def _emergency(self, lang: str, rule: str) -> Reply:
        return self._reply("emergency", render.emergency(self.k), lang,
                           ids=(f"emergency:{rule}",))

    def _health(self, lang: str, concept: str) -> Reply:
        return self._reply("health", render.health_advice(self.k), lang,
                           ids=(f"health:{concept}",),
                           choices=(Choice("list:doctors", render.section_label("list:doctors")),
                                    Choice("emergency", render.emergency_label())))

    def _smalltalk(self, a: Analysis, lang: str) -> Reply | None:
        """Small talk by meaning: thanks, goodbye, "ok", greeting, help, "are you a robot?".

        It is small talk when its words say most of the message (at least half of its
        content words), no list or directory cue is used, and every entry found lies inside
        those words ("a real person" is not the fact "in person")."""
        kinds = [c for c in SMALLTALK_ORDER if c in a.cues]
        if not kinds or any(c in a.cues for c in SUBSTANTIVE_CUES):
            return None
        covered: set[int] = set().union(*(a.cues[c].positions for c in kinds))
        if any(not m.positions <= covered for m in a.mentions):
            return None
        if a.content and 2 * len(a.content & covered) < len(a.content):
            return None
        # most of the message's words, then the closer match ("salam" is a greeting word
        # and only a near miss of the farewell "salama"), then the order of SMALLTALK_ORDER
        kind = max(kinds, key=lambda c: (len(a.cues[c].positions & a.content),
                                         a.cues[c].score, -SMALLTALK_ORDER.index(c)))
        from_knowledge: dict[str, Callable[[Knowledge], str]] = {
            "greeting": render.greeting, "help": render.help_text, "about": render.about_me}
        fixed: dict[str, Callable[[], str]] = {
            "thanks": render.thanks, "bye": render.goodbye, "ack": render.acknowledged}
        body = from_knowledge[kind](self.k) if kind in from_knowledge else fixed[kind]()
        return self._reply(SMALLTALK[kind], body, lang, choices=_list_choices())

    def _answer(self, a: Analysis, lang: str) -> Reply:
        kinds: dict[str, list[Mention]] = defaultdict(list)
        for m in a.mentions:
            kinds[m.kind].append(m)
        cues = a.cues
        people, specialties, topics = kinds["person"], kinds["specialty"], kinds["topic"]
        talks, facts = kinds["talk"], kinds["fact"]
        doctor_cue = "doctor" in cues
        if "offtopic" in cues and not people:
            return self._ask(a, [], lang, 0.0)  # weather, flights: not this bot's to answer
        if facts and topics and all(self._entry(Topic, t.key).umbrella for t in topics):
            # a theme most talks share gives way to a fact ("why does high-risk pregnancy
            # need teamwork" asks why the forum was held)
            topics = []
            talks = [t for t in talks if not t.description]
        unknown = [m for m in facts if self._entry(Fact, m.key).unknown]
        if unknown and not (people or specialties or self._about_forum(a)):
            facts = [m for m in facts if m not in unknown]  # "the price of bitcoin"
            if not facts and not topics and not talks:
                return self._ask(a, [], lang, 0.0)
        elif unknown and self._unknown_asked(a, facts, unknown, self.questions.kinds(a.units)):
            if topics:
                # the price of a caesarean is not the forum's: not this bot's to answer
                return self._ask(a, [], lang, 0.0)
            return self._unknown(a, unknown, people, specialties, lang)
        stranger = self._stranger(a, people, lang)
        if stranger:
            return stranger
        if people and all(m.description for m in people):
            # a role that only resembles the message gives way to a better entry that
            # explains other words ("president of hassan 2 hospital" is the hospital fact)
            words = frozenset().union(*(m.positions for m in people))
            best = max(m.score for m in people)
            if any(m.score > best and not m.positions <= words for m in [*facts, *topics]):
                people = []
        if people:
            used = _ambiguous_or_best(a, people)
            conf = self._confidence(a, used)
            if len(used) > 1 and _overlap(used):
                return self._ask(a, used, lang, conf, render.ambiguous())
            if conf < ANSWER_MIN:
                return self._ask(a, used, lang, conf)
            return self._people(used, lang, conf, doctor=doctor_cue, a=a)
        # "which talk ...": not a directory search (a talk alias that is only a specialty's
        # word, like "midwife", does not count)
        asks_talk = "sessions" in cues or any(
            not t.description and not any(t.positions & s.positions for s in specialties)
            for t in talks)
        if specialties:
            shared = any(t.positions & s.positions for t in topics for s in specialties)
            if asks_talk and (topics or talks):
                return self._checked(a, topics + talks, lang, "session")
            if doctor_cue or not shared:
                # a word that is a specialty and a topic ("midwife") counts once, as the
                # specialty; a specialty that is only a word of a longer topic ("delivery"
                # in "bleeding after delivery") gives way to the topic
                others = [t for t in topics if not any(t.positions <= s.positions
                                                       for s in specialties)]
                kept = [s for s in specialties
                        if not any(s.positions < t.positions for t in others)]
                return self._checked(a, [*kept, *others], lang, "doctor")
            return self._checked(a, topics + talks, lang, "session")
        if topics and doctor_cue and not asks_talk:
            return self._checked(a, topics, lang, "doctor")
        if topics or talks:
            return self._checked(a, topics + talks, lang, "session")
        # the question words pick among facts: a message naming a person or a talk (most
        # messages) returned above without them
        asked = self.questions.kinds(a.units)
        if facts:
            chosen = _ambiguous_or_best(a, self._asked_facts(facts, asked),
                                        self._weak(a))
            other = self._other_kind(chosen, asked)
            if other:
                return self._checked(a, other, lang, "event")
            return self._checked(a, chosen, lang, "event")
        kind_fact = self._kind_fact(a, asked, kinds["event"], lang)
        if kind_fact:
            return kind_fact
        named = max((m.score for m in kinds["event"]), default=0.0)
        for cue, target in (("doctor", "list:doctors"), ("speakers", "list:speakers"),
                            ("sessions", "list:sessions")):
            if cue in cues and cues[cue].score >= named:
                # a cue names no entry: every other word must be explained too, where
                # words true of the whole forum count ("a doctor in Settat")
                explained = a.explained([cues[cue]], weak=self._weak(a))
                conf = round(cues[cue].score * explained, 4)
                if conf < ANSWER_MIN:
                    return self._ask(a, [], lang, conf)
                return self._list(target, lang, conf)
        if kinds["event"]:
            return self._checked(a, kinds["event"], lang, "event")
        if "about" in cues:
            return self._reply("help", render.help_text(self.k), lang, choices=_list_choices())
        return self._ask(a, [], lang, 0.0)

    def _unknown_asked(self, a: Analysis, facts: list[Mention], unknown: list[Mention],
                       asked: dict[str, frozenset[int]]) -> bool:
        """True when the message asks for something the article does not give: an
        unknown fact found at least as well as any known one ("which hotel hosted the
        experts": the hotel, not the hosts)."""
        weak = self._weak(a)
        known = [m for m in self._asked_facts(facts, asked) if m not in unknown]
        if not known:
            return True
        return _value(a, unknown, weak) >= _value(a, known, weak)

    def _about_forum(self, a: Analysis) -> bool:
        """True when most content words (more than half) are explained or true of the
        forum: "is it free?", "which hotel did the forum use?", but not "the price of
        bitcoin". A word of any alias of an entry found counts as explained ("next year"
        with "next forum")."""
        found = [*a.mentions, *a.cues.values()]
        covered = frozenset().union(*(m.positions for m in found)) | self._weak(a)
        keys = {m.key for m in a.mentions}
        records = self.index.records
        said = sum(1 for i in a.content if i in covered or any(
            records[r].key in keys for r, _ in self.index.postings.get(a.units[i], ())))
        return 2 * said > len(a.content)

    def _weak(self, a: Analysis) -> frozenset[int]:
        """Positions of words true of the whole forum ("online", "China", "forum")."""
        return frozenset(i for i in a.content if a.units[i] in self.context)

    def _asked_facts(self, facts: list[Mention], asked: dict[str, frozenset[int]]
                     ) -> list[Mention]:
        """Keep the facts that answer the kind of question asked ("how many" -> the
        audience), when some do; otherwise all of them."""
        fitting = [m for m in facts if set(self._entry(Fact, m.key).answers) & asked.keys()]
        return fitting or facts

    def _other_kind(self, found: list[Mention], asked: dict[str, frozenset[int]]
                    ) -> list[Mention] | None:
        """"When" or "why" about a fact that does not answer it ("when was the opening
        ceremony", "why did they organise it"): the forum's fact of that kind. ("Where"
        has too many senses: where to read the article, where a hospital is.)"""
        if any(set(self._entry(Fact, m.key).answers) & asked.keys() for m in found):
            return None
        for kind in ("when", "why"):
            if kind in asked:
                fact = self._fact_for(kind)
                if fact:
                    words = frozenset().union(*(m.positions for m in found), asked[kind])
                    return [Mention(str(fact.ref), "", min(m.score for m in found),
                                    words)]
        return None

    def _fact_for(self, kind: str) -> Fact | None:
        """The first known fact that answers ``kind`` of question, or None."""
        return next((f for f in self.k.facts if not f.unknown and kind in f.answers), None)

    def _kind_fact(self, a: Analysis, asked: dict[str, frozenset[int]],
                   events: list[Mention], lang: str) -> Reply | None:
        """A question word about the forum itself, and nothing more specific: "when was
        the summit?", "متى عقدت القمة", "where was it?" -> the first fact that answers that
        kind of question. Only when the message names the forum, or names nothing at all."""
        wanted = [kind for kind in KIND_FACTS if kind in asked]
        named = frozenset().union(*(m.positions for m in events), *asked.values())
        if not wanted or any(c in a.cues and not a.cues[c].positions <= named
                             for c in SUBSTANTIVE_CUES):
            return None
        if not events and not a.content <= named:
            return None
        fact = self._fact_for(wanted[0])
        if fact is None:
            return None
        key = str(fact.ref)
        conf = self._confidence(a, [Mention(key, "", 1.0, named)])
        if conf < ANSWER_MIN:
            return None
        return self._reply("event", render.fact(self.k, fact), lang, ids=(key,),
                           confidence=conf, candidates=_candidates(a))

    def _unknown(self, a: Analysis, unknown: list[Mention], people: list[Mention],
                 specialties: list[Mention], lang: str) -> Reply:
        """Something the article does not give: say so, with what is known of the people
        asked about (named, or the clinicians of a specialty: "does the midwife speak
        French?")."""
        best = max(unknown, key=lambda m: (m.score, len(m.positions)))
        conf = self._confidence(a, [best, *people, *specialties])
        if conf < ANSWER_MIN:
            return self._ask(a, [best], lang, conf)
        persons = [self._entry(Person, m.key) for m in people[:MAX_PEOPLE]]
        wanted = {EntryRef.parse(m.key).id for m in specialties}
        persons += [self.k.get("person", d.practitioner) for d in self.k.doctors
                    if wanted & set(d.specialty)][:MAX_PEOPLE - len(persons)]
        text = render.unknown_fact(self.k, self._entry(Fact, best.key), persons)
        return self._reply("event", text, lang, confidence=conf,
                           ids=(best.key, *(str(p.ref) for p in persons)),
                           candidates=_candidates(a))

    def _stranger(self, a: Analysis, people: list[Mention], lang: str) -> Reply | None:
        """A known surname (or given name) next to a name part the knowledge does not have
        ("who is li na", "dr cai ling"): a different person, so "I don't know Li Na; did
        you mean Li Jinbao?" instead of Li Jinbao's card."""
        # a lone short surname in a longer message is only "near" ("li na"): still a name
        people = [*people, *(m for m in a.held if m.kind == "person" and m.score >= 1.0)]
        if not people:
            return None
        # words that spell a known person's whole name exactly ("guo jingjun" beside
        # Guo Mingjun, among thousands of similar names) are that person, not a stranger
        named = [m.positions for m in a.mentions
                 if m.kind == "person" and not m.description and m.score >= 1.0]
        covered: frozenset[int] | None = None   # words entries and cues explain, when needed
        for m in people:
            if m.description or m.heard:
                continue
            person = self._entry(Person, m.key)
            # (a name of one word is no Chinese name of two: its words are not needed)
            if m.score < 1.0 and len(m.positions) > 1 and \
                    not any(m.positions <= words for words in named) and \
                    _other_chinese_name([a.units[i] for i in sorted(m.positions)],
                                        self._units_of(person.name)):
                lo, hi = min(m.positions), max(m.positions)
                return self._not_known(a, people, " ".join(
                    u.capitalize() for u in a.units[lo:hi + 1]), lang)
            # a one-word alias ("Brini"), or one word of a longer name found alone
            # ("jinbao" of Li Jinbao in "wang jinbao"); the person's words are worked out
            # only when a neighbouring word could be another name part (most mentions are
            # whole names, and of 10,000 people most are met once)
            if not (m.score < 1.0 and len(m.positions) == 1) and \
                    len(self._units_of(m.alias)) != 1:
                continue
            if covered is None:
                covered = frozenset().union(*(x.positions
                                              for x in [*a.mentions, *a.cues.values()]))
            own: frozenset[str] | None = None
            at = min(m.positions)
            for i in (at + 1, at - 1, at + 2, at - 2):
                if not 0 <= i < len(a.units) or i in covered:
                    continue
                word = a.units[i]
                if abs(i - at) == 2:  # one particle between ("jihane el amrani")
                    between = a.units[(i + at) // 2]
                    if len(between) > 3 or not between.isalpha():
                        continue
                if not (word.isascii() and word.isalpha() and len(word) > 1) or \
                        word in self._words:
                    continue
                if own is None:
                    if len(self._units_of(person.name)) < 2:
                        break
                    own = self._words_of(person)
                if word not in own and not _typo_of(word, own) and \
                        _name_like(word, person.name, abs(i - at)):
                    lo, hi = min(i, at), max(i, at)
                    return self._not_known(a, people, " ".join(
                        u.capitalize() for u in a.units[lo:hi + 1]), lang)
        return None

    def _units_of(self, text: str) -> list[str]:
        """The matching units of a name or alias of the knowledge (remembered: the same
        names come back, and a directory has too many to work out in advance)."""
        found = self._text_units.get(text)
        if found is None:
            found = self._text_units[text] = self.index.units(text)
        return found

    def _words_of(self, person: Person) -> frozenset[str]:
        """Every word of a person's name and aliases."""
        found = self._own_words.get(person.id)
        if found is None:
            found = self._own_words[person.id] = frozenset(
                w for alias in (person.name, *person.aliases) for w in self._units_of(alias))
        return found

    def _not_known(self, a: Analysis, people: list[Mention], written: str,
                   lang: str) -> Reply:
        known = list({p.key: p for p in [*people, *a.near]
                      if p.kind == "person" and not p.description}.values())[:MAX_CHOICES]
        names = [self._entry(Person, p.key).name for p in known[:2]]
        choices = tuple(Choice(p.key, render.label(self.k, p.key)) for p in known)
        return self._reply("fallback", render.unknown_person(written, names), lang,
                           choices=choices, confidence=0.0, candidates=_candidates(a))

    def _checked(self, a: Analysis, used: list[Mention], lang: str, intent: str) -> Reply:
        conf = self._confidence(a, used)
        if conf < ANSWER_MIN:
            return self._ask(a, used, lang, conf)
        if intent == "doctor":
            return self._doctors([m for m in used if m.kind == "specialty"],
                                 [m for m in used if m.kind == "topic"], lang, conf)
        if intent == "session":
            return self._sessions(used, lang, conf, a)
        entry = self.k.entries[used[0].key]
        text = render.fact(self.k, entry) if isinstance(entry, Fact) else \
            render.event_overview(self.k)
        return self._reply("event", text, lang, ids=(used[0].key,), confidence=conf,
                           candidates=_candidates(a))

    def _confidence(self, a: Analysis, used: list[Mention]) -> float:
        if not used:
            return 0.0
        return round(max(m.score for m in used) * (0.5 + 0.5 * a.explained(used)), 4)

    def _ask(self, a: Analysis, used: list[Mention], lang: str, conf: float,
             text: str | None = None) -> Reply:
        keys = [key for key in dict.fromkeys(m.key for m in [*used, *a.mentions, *a.near])
                if key in self.k.entries]
        choices = tuple(Choice(key, render.label(self.k, key)) for key in keys[:MAX_CHOICES])
        body = text or render.fallback(doubtful=bool(choices))
        return self._reply("fallback", body, lang, choices=choices or _list_choices(),
                           confidence=conf, candidates=_candidates(a))

    # -- answers --------------------------------------------------------------------------
    def _people(self, used: list[Mention], lang: str, conf: float, doctor: bool,
                a: Analysis | None = None) -> Reply:
        persons = [self._entry(Person, m.key) for m in used[:MAX_PEOPLE]]
        doctors = [self.k.doctor_for(p.id) for p in persons]
        heard = "".join(render.heard_as(m.heard, self._entry(Person, m.key).name) + "\n"
                        for m in used[:MAX_PEOPLE] if m.heard)
        if doctor and all(doctors):
            # every person has a doctor listing (checked just above)
            return self._doctor_cards(cast(list[Doctor], doctors), lang, conf, [m.key for m in used],
                                      heard=heard)
        ids: list[str] = []
        for p in persons:
            ids.append(str(p.ref))
            ids += [str(t.ref) for t in self.k.talks_by(p.id)]
        text = heard + "\n\n".join(render.person_card(self.k, p) for p in persons)
        if any(doctors):
            text += "\n" + render.disclaimer()
        choices = [Choice(str(d.ref), render.doctor_card_label())
                   for d in doctors if d][:1]
        return self._reply("speaker", text, lang, ids=tuple(ids), confidence=conf,
                           choices=tuple(choices) + (Choice("list:speakers",
                                                            render.all_speakers_label()),),
                           candidates=_candidates(a))

    def _sessions(self, used: list[Mention], lang: str, conf: float,
                  a: Analysis | None = None) -> Reply:
        topics = [self._entry(Topic, m.key) for m in used if m.kind == "topic"]
        asked = [t for t in topics if not t.umbrella] or topics
        scores = _rank(self._topic_talks, [(t, m.score) for t, m in zip(
            topics, [m for m in used if m.kind == "topic"]) if t in asked])
        for m in used:
            if m.kind == "talk":
                talk = self._entry(Talk, m.key)
                scores[talk.id] = scores.get(talk.id, 0.0) + m.score
        talks = _top([self.k.get("talk", i) for i in scores], scores)
        talks.sort(key=lambda t: t.order)
        if not talks:
            return self._ask(a, used, lang, conf) if a else self._list("list:sessions", lang)
        text = render.topic_talks(self.k, asked, talks) if topics else \
            render.talks_found(self.k, talks)
        text = self._with_notes(text, asked)
        ids = [str(t.ref) for t in asked] + [str(t.ref) for t in talks]
        choices = tuple(Choice(ref_key("person", t.speaker), render.person_name(self.k, t.speaker))
                        for t in talks[:MAX_CHOICES])
        return self._reply("session", text, lang, ids=tuple(ids), confidence=conf,
                           choices=choices, candidates=_candidates(a) if a else ())

    def _doctors(self, specialties: list[Mention], topics: list[Mention], lang: str,
                 conf: float) -> Reply:
        sp_ids = {EntryRef.parse(m.key).id for m in specialties}
        pool = [d for d in self.k.doctors if not sp_ids or sp_ids & set(d.specialty)]
        topic_entries = [self._entry(Topic, m.key) for m in topics]
        asked = [t for t in topic_entries if not t.umbrella] or topic_entries
        none_on: list[Topic] = []
        if asked:
            scores = _rank(self._topic_doctors, [(t, 1.0) for t in asked])
            ranked = _top([d for d in pool if d.id in scores], scores)
            if ranked:
                pool = ranked
            elif sp_ids:
                none_on = asked
            else:
                pool = []
        if not pool:
            return self._reply("doctor", render.no_clinician(self.k, asked), lang,
                               confidence=conf, ids=tuple(str(t.ref) for t in asked))
        keys = [ref_key("specialty", s) for s in sorted(sp_ids)] + [str(t.ref) for t in asked]
        return self._doctor_cards(pool, lang, conf, keys, asked, none_on)

    def _doctor_cards(self, doctors: list[Doctor], lang: str, conf: float,
                      keys: list[str], topics: Sequence[Topic] = (),
                      none_on: Sequence[Topic] = (), heard: str = "") -> Reply:
        text = heard + render.doctors_list(self.k, doctors, none_on)
        text = self._with_notes(text, topics)
        ids = keys + [str(d.ref) for d in doctors]
        choices = tuple(Choice(ref_key("person", d.practitioner),
                               render.person_name(self.k, d.practitioner))
                        for d in doctors[:MAX_CHOICES])
        return self._reply("doctor", text, lang, ids=tuple(dict.fromkeys(ids)),
                           confidence=conf, choices=choices)

    def _with_notes(self, text: str, topics: Sequence[Topic]) -> str:
        """Add the medical-information note at the end and, for topics whose lay wording can
        describe an emergency, the emergency numbers FIRST (a channel that must shorten a
        long answer cuts from the end)."""
        urgent = any(t.urgent_symptom for t in topics)
        head = render.urgent_hint(self.k) + "\n" if urgent else ""
        return head + text + "\n" + render.disclaimer()

    def _list(self, target: str, lang: str, conf: float = 1.0) -> Reply:
        if target == "list:sessions":
            talks = sorted(self.k.talks, key=lambda t: t.order)
            return self._reply("session", render.programme(self.k), lang, confidence=conf,
                               ids=tuple(str(t.ref) for t in talks),
                               choices=tuple(Choice(str(t.ref), render.label(
                                   self.k, str(t.ref))) for t in talks))
        if target == "list:speakers":
            talk_people, others = render.forum_people(self.k)
            return self._reply("speaker", render.speakers(self.k), lang, confidence=conf,
                               ids=tuple(str(p.ref) for p in [*others, *talk_people]),
                               choices=tuple(Choice(ref_key("person", t.speaker), render.person_name(
                                   self.k, t.speaker)) for t in self.k.talks))
        if target == "list:doctors":
            return self._reply("doctor", render.directory_overview(self.k), lang,
                               confidence=conf,
                               ids=tuple(str(d.ref) for d in self.k.doctors),
                               choices=tuple(Choice(str(s.ref), render.name_of(s))
                                             for s in self.k.specialties))
        return self._reply("help", render.help_text(self.k), lang, choices=_list_choices())

    def _entry(self, model: type[_E], key: str) -> _E:
        """The entry under reference key ``key`` ("kind:id") whose kind the caller knows
        (a mention's kind): ``model`` is that kind's model.

        Raises:
            KeyError: no entry of that model has this key.
        """
        entry = self.k.entries[key]
        if not isinstance(entry, model):
            raise KeyError(f"{key} is not a {model.__name__}")
        return entry

    @staticmethod
    def _reply(intent: Intent, text: str, lang: str, *, choices: Iterable[Choice] = (),
               ids: Iterable[str] = (), confidence: float = 1.0,
               candidates: Iterable[Candidate] = ()) -> Reply:
        if lang == "ar":  # Latin names and numbers keep their order in right-to-left text
            text = isolate_ltr(text)
        return Reply(intent=intent, text=text, choices=tuple(choices), ids=tuple(ids),
                     confidence=round(confidence, 4), lang=lang, candidates=tuple(candidates))


def split_command(text: str) -> tuple[str, str]:
    """Split "/name@bot argument" into ("name@bot", "argument") at the first whitespace of
    any kind (space, newline, tab, no-break space; ``str.split`` without a separator knows
    them all). Returns the word without its "/" and the stripped rest ("" when none)."""
    parts = text.strip().removeprefix("/").split(None, 1)
    if not parts:
        return "", ""
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")


def _list_choices() -> tuple[Choice, ...]:
    return tuple(Choice(key, render.section_label(key)) for key in LISTS if key != "help")


def _steering(a: Analysis) -> frozenset[int]:
    """Content positions of a message that only steer ("the second talk": "talk" is a cue)."""
    return frozenset().union(*(cue.positions for cue in a.cues.values()))


def _overlap(mentions: list[Mention]) -> bool:
    return any(a.positions & b.positions for i, a in enumerate(mentions)
               for b in mentions[i + 1:])


def _value(a: Analysis, mentions: list[Mention], weak: frozenset[int]) -> float:
    """The best value of ``mentions`` as _ambiguous_or_best weighs them."""
    return max(_weighted(a, m, weak) for m in mentions)


def _weighted(a: Analysis, m: Mention, weak: frozenset[int]) -> float:
    factor = CONTEXT_WEIGHT if m.positions and m.positions <= weak else 1.0
    return round(factor * m.score * (0.5 + 0.5 * a.explained([m])), 4)


def _ambiguous_or_best(a: Analysis, mentions: list[Mention],
                       weak: frozenset[int] = frozenset()) -> list[Mention]:
    """Return the best mention, plus those on other words (several people named) and those
    on the same words within AMBIGUITY_MARGIN (which the caller turns into a question).

    "Best" weighs the match score by how much of the message the mention explains, so
    "li fang" is Liu Fang (both words, one typo) rather than Li Jinbao (one exact word);
    a mention found only through ``weak`` positions (words true of the whole forum) counts
    CONTEXT_WEIGHT as much, so "online" does not outweigh "how many people".
    """
    # each mention's value once (explained() makes sets), by identity: mentions are tuples
    values = {id(m): _weighted(a, m, weak) for m in mentions}
    ordered = sorted(mentions, key=lambda m: (-values[id(m)], -m.score, m.key))
    best = ordered[0]
    out = [best]
    for m in ordered[1:]:
        same_words = m.positions & best.positions
        if (same_words and values[id(best)] - values[id(m)] <= AMBIGUITY_MARGIN) or \
                (not same_words and m.score >= best.score - 0.2 and
                 not any(m.positions & o.positions for o in out)):
            out.append(m)
    return out


def _other_chinese_name(written: list[str], name: list[str]) -> bool:
    """True when the words typed and a known name are both Chinese names in pinyin, share
    one word and differ in another of as many syllables ("liu yang" / Liu Fang, "li fang"
    / Liu Fang): another person, not a typo."""
    if len(written) != len(name) or len(name) < 2:
        return False
    for order in (name, name[::-1]):
        same = [w == n for w, n in zip(written, order)]
        if not any(same) or all(same):
            continue
        # one syllable changed in a short word is another name (yang / fang); in a longer
        # one it is more likely a typo (jinba / jinbao)
        if all(_syllable_count(w) == _syllable_count(n) > 0 and len(n) <= SHORT_NAME
               for w, n, eq in zip(written, order, same) if not eq):
            return True
    return False


def _name_like(word: str, name: str, distance: int) -> bool:
    """Whether an unknown word next to a known name part can be another name part: pinyin
    beside a Chinese name ("li na"); beside another name, a word of three letters or more
    ("brini samira") or anything after a name particle ("jihane el amrani"). The caller
    has excluded the vocabulary's words and the words other entries explain ("brini
    talk"), so "big" in "a big fan of" never gets here."""
    if all(_syllable_count(w) for w in name.lower().split()):
        return _syllable_count(word) > 0
    return distance == 2 or len(word) >= 3


def _typo_of(word: str, own: frozenset[str]) -> bool:
    """True when ``word`` is one edit from a word of five letters or more of the name
    ("xiasoheng" for Xiaosheng): a typo, not another person's name."""
    return any(len(w) > SHORT_NAME and OSA.distance(word, w, score_cutoff=1) <= 1
               for w in own)


def _syllable_count(word: str) -> int:
    parts = phonetic.syllables(word) if word.isascii() and word.isalpha() else None
    return len(parts) if parts else 0


def _coverage(k: Knowledge, items: Iterable[tuple[_I, Iterable[str]]]) -> dict[str, list[_I]]:
    """Map topic id -> items (talks or doctors) covering it directly or via a narrower topic."""
    parents: dict[str, list[str]] = {t.id: list(t.broader) for t in k.topics}

    def ancestors(topic_id: str, seen: set[str] | None = None) -> set[str]:
        seen = seen if seen is not None else set()
        for p in parents.get(topic_id, []):
            if p not in seen:
                seen.add(p)
                ancestors(p, seen)
        return seen

    out: dict[str, list[_I]] = defaultdict(list)
    for item, topic_ids in items:
        covered = set(topic_ids)
        for t in topic_ids:
            covered |= ancestors(t)
        for t in covered:
            out[t].append(item)
    return dict(out)


def _rank(coverage: Mapping[str, Sequence[_HasId]], topics: list[tuple[Topic, float]]
          ) -> dict[str, float]:
    """Score items by the asked topics they cover; a topic covered by few items weighs more."""
    scores: dict[str, float] = defaultdict(float)
    for topic, weight in topics:
        items = coverage.get(topic.id, [])
        for item in items:
            scores[item.id] += weight / len(items)
    return scores


def _top(items: list[_I], scores: dict[str, float]) -> list[_I]:
    """Keep the items scoring at least half of the best one."""
    if not items:
        return []
    best = max(scores[i.id] for i in items)
    return [i for i in items if scores[i.id] >= 0.5 * best]


def _candidates(a: Analysis | None) -> tuple[Candidate, ...]:
    if a is None:
        return ()
    return tuple(Candidate(m.key, m.alias, m.score, m.description)
                 for m in [*a.mentions, *a.near][:8])


__all__ = ["Assistant", "split_command"]
