"""The channel-agnostic intent engine: ``Assistant.reply(Message) -> Reply``.

Order of decisions, and why:
1. Commands ("/sessions", "/doctor midwife") are exact and decided first.
2. Urgent symptoms get the emergency reply before anything else (health safety first):
   :mod:`bot.core.emergency` triages the message with the concepts of emergency.yaml.
3. A message that is only a greeting, help request or thanks gets that reply, before fuzzy
   matching, so "hi" never lands on a name that contains "hi".
4. Otherwise the match index finds the entries mentioned, and their kinds decide the
   intent: a named person -> speaker (or doctor when a doctor is asked for); a specialty,
   or a condition with a doctor cue -> doctor; a topic or talk -> session; an event fact ->
   event; list cues -> the programme or the speakers; the forum itself -> event.
5. Confidence = match score x how much of the message the match explains. Below
   ANSWER_MIN, or when two entries match the same words almost equally, the reply is a
   fallback that asks "did you mean ...?" with the candidates as choices.
6. The safety net: a health question (a personal situation, a medical question) gets the
   "health" reply (numbers if urgent, no advice, a doctor or midwife) instead of the
   answer, unless it asks about the programme or the directory, or the answer is
   CONFIDENT, and is answered; never a bare fallback or a menu of unrelated talks.
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict

from bot.i18n import SUPPORTED, isolate_ltr, language
from bot.knowledge.models import Doctor, Knowledge, Topic

from . import render
from .emergency import EmergencyDetector
from .entries import build_index
from .index import Analysis, Mention
from .language import LanguageDetector
from .types import Candidate, Choice, Message, Reply

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1000   # longer messages are read up to here (a chat question is short)
ANSWER_MIN = 0.55          # below this confidence the bot asks instead of answering
CONFIDENT = 0.75           # a health question answered this surely is about the programme
AMBIGUITY_MARGIN = 0.05    # two entries closer than this on the same words: ask which
MAX_PEOPLE = 3
MAX_CHOICES = 4
HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]{0,40}>")  # pasted markup, e.g. "<b>hi</b>"

LISTS = ("list:sessions", "list:speakers", "list:doctors", "help")
# command names and /start payloads -> the section they open
SECTIONS = {"sessions": "list:sessions", "programme": "list:sessions", "program": "list:sessions",
            "speakers": "list:speakers", "doctor": "list:doctors", "doctors": "list:doctors",
            "help": "help"}
SMALLTALK = {"greeting": "greeting", "help": "help", "about": "help", "thanks": "smalltalk"}


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
                                         knowledge.vocabulary.markers)
        self._topic_talks = _coverage(knowledge, [(t, t.topics) for t in knowledge.talks])
        self._topic_doctors = _coverage(knowledge, [(d, d.conditions) for d in knowledge.doctors])

    # -- entry points ---------------------------------------------------------------------
    def reply(self, message: Message) -> Reply:
        """Answer one message.

        Args:
            message: the user's text (any str; read up to MAX_MESSAGE_CHARS characters).
        Returns:
            a :class:`Reply`; never raises: a fault of the engine itself is logged and the
            user gets the fallback, so one bad message never takes a channel down.
        """
        text = HTML_TAG.sub(" ", message.text[:MAX_MESSAGE_CHARS])
        lang = message.lang if message.lang in SUPPORTED else self.language.detect(text)
        with language(lang):
            try:
                return self._reply_to(text, lang)
            except Exception:  # noqa: BLE001 - the safety net of every channel
                log.exception("reply failed (message of %d characters)", len(message.text))
                return self._reply("fallback", render.fallback(doubtful=False), lang,
                                   choices=_list_choices(), confidence=0.0)

    def _reply_to(self, text: str, lang: str) -> Reply:
        stripped = text.strip()
        if not stripped:
            return self._reply("help", render.help_text(self.k), lang, choices=_list_choices())
        if stripped.startswith("/"):
            return self._command(stripped, lang)
        analysis = self.index.analyse(text)
        names = any(m.kind == "person" for m in analysis.mentions)
        triage = self.detector.triage(analysis.units, names)
        if triage.urgent:
            return self._emergency(lang, triage.urgent)
        small = self._smalltalk(analysis, lang)
        if small:
            return small
        answer = self._answer(analysis, lang)
        # a price or an unrelated contact is no health question; the programme or the
        # directory answers a health question only when it asks for them, or is sure
        framed = triage.framed or "doctor" in analysis.cues
        if triage.health and "offtopic" not in analysis.cues and (
                answer.intent == "fallback" or not (framed or answer.confidence >= CONFIDENT)):
            return self._health(lang, triage.health)
        return answer

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
        kind = choice_id.split(":", 1)[0]
        mention = Mention(choice_id, "", 1.0, frozenset())
        if kind == "person":
            return self._people([mention], lang, 1.0, doctor=False)
        if kind == "doctor":
            return self._doctor_cards([entry], lang, 1.0, [choice_id])
        if kind in ("topic", "talk"):
            return self._sessions([mention], lang, 1.0)
        if kind == "specialty":
            return self._doctors([mention], [], lang, 1.0)
        if kind == "fact":
            return self._reply("event", render.fact(self.k, entry), lang, ids=(choice_id,))
        return self._reply("event", render.event_overview(self.k), lang, ids=(choice_id,))

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
                               ids=(f"event:{self.k.event.id}",))
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
        """A message wholly made of greeting, help or thanks words, matched exactly."""
        kinds = [c for c in ("greeting", "help", "about", "thanks") if c in a.cues and
                 a.cues[c].score == 1.0]
        if not kinds:
            return None
        covered = set().union(*(a.cues[c].positions for c in kinds))
        if not a.content <= covered:
            return None
        kind = kinds[0]
        text = {"greeting": render.greeting, "help": render.help_text,
                "about": render.help_text}.get(kind)
        body = text(self.k) if text else render.thanks()
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
            return self._ask(a, [], lang, 0.0)  # prices, weather: not this bot's to answer
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
            not any(t.positions & s.positions for s in specialties) for t in talks)
        if specialties:
            shared = any(t.positions & s.positions for t in topics for s in specialties)
            if asks_talk and (topics or talks):
                return self._checked(a, topics + talks, lang, "session")
            if doctor_cue or not shared:
                others = [t for t in topics if not any(t.positions & s.positions
                                                       for s in specialties)]
                return self._checked(a, [*specialties, *others], lang, "doctor")
            return self._checked(a, topics + talks, lang, "session")
        if topics and doctor_cue and not asks_talk:
            return self._checked(a, topics, lang, "doctor")
        if topics or talks:
            return self._checked(a, topics + talks, lang, "session")
        if facts:
            best = _ambiguous_or_best(a, facts)
            return self._checked(a, best, lang, "event")
        named = max((m.score for m in kinds["event"]), default=0.0)
        for cue, target in (("doctor", "list:doctors"), ("speakers", "list:speakers"),
                            ("sessions", "list:sessions")):
            if cue in cues and cues[cue].score >= named:
                # a cue names no entry: every other word must be explained too
                conf = round(cues[cue].score * a.explained([cues[cue]]), 4)
                if conf < ANSWER_MIN:
                    return self._ask(a, [], lang, conf)
                return self._list(target, lang, conf)
        if kinds["event"]:
            return self._checked(a, kinds["event"], lang, "event")
        if "about" in cues:
            return self._reply("help", render.help_text(self.k), lang, choices=_list_choices())
        return self._ask(a, [], lang, 0.0)

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
        text = render.fact(self.k, entry) if used[0].kind == "fact" else \
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
        persons = [self.k.entries[m.key] for m in used[:MAX_PEOPLE]]
        doctors = [self.k.doctor_for(p.id) for p in persons]
        if doctor and all(doctors):
            return self._doctor_cards(doctors, lang, conf, [m.key for m in used])
        ids: list[str] = []
        for p in persons:
            ids.append(f"person:{p.id}")
            ids += [f"talk:{t.id}" for t in self.k.talks_by(p.id)]
        text = "\n\n".join(render.person_card(self.k, p) for p in persons)
        if any(doctors):
            text += "\n" + render.disclaimer()
        choices = [Choice(f"doctor:{d.id}", render.doctor_card_label())
                   for d in doctors if d][:1]
        return self._reply("speaker", text, lang, ids=tuple(ids), confidence=conf,
                           choices=tuple(choices) + (Choice("list:speakers",
                                                            render.all_speakers_label()),),
                           candidates=_candidates(a))

    def _sessions(self, used: list[Mention], lang: str, conf: float,
                  a: Analysis | None = None) -> Reply:
        topics = [self.k.entries[m.key] for m in used if m.kind == "topic"]
        asked = [t for t in topics if not t.umbrella] or topics
        scores = _rank(self._topic_talks, [(t, m.score) for t, m in zip(
            topics, [m for m in used if m.kind == "topic"]) if t in asked])
        for m in used:
            if m.kind == "talk":
                talk = self.k.entries[m.key]
                scores[talk.id] = scores.get(talk.id, 0.0) + m.score
        talks = _top([self.k.get("talk", i) for i in scores], scores)
        talks.sort(key=lambda t: t.order)
        if not talks:
            return self._ask(a, used, lang, conf) if a else self._list("list:sessions", lang)
        text = render.topic_talks(self.k, asked, talks) if topics else \
            render.talks_found(self.k, talks)
        text = self._with_notes(text, asked)
        ids = [f"topic:{t.id}" for t in asked] + [f"talk:{t.id}" for t in talks]
        choices = tuple(Choice(f"person:{t.speaker}", render.person_name(self.k, t.speaker))
                        for t in talks[:MAX_CHOICES])
        return self._reply("session", text, lang, ids=tuple(ids), confidence=conf,
                           choices=choices, candidates=_candidates(a) if a else ())

    def _doctors(self, specialties: list[Mention], topics: list[Mention], lang: str,
                 conf: float) -> Reply:
        sp_ids = {m.key.split(":", 1)[1] for m in specialties}
        pool = [d for d in self.k.doctors if not sp_ids or sp_ids & set(d.specialty)]
        topic_entries = [self.k.entries[m.key] for m in topics]
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
                               confidence=conf, ids=tuple(f"topic:{t.id}" for t in asked))
        keys = [f"specialty:{s}" for s in sorted(sp_ids)] + [f"topic:{t.id}" for t in asked]
        return self._doctor_cards(pool, lang, conf, keys, asked, none_on)

    def _doctor_cards(self, doctors: list[Doctor], lang: str, conf: float,
                      keys: list[str], topics: list[Topic] = (),
                      none_on: list[Topic] = ()) -> Reply:
        text = render.doctors_list(self.k, doctors, none_on)
        text = self._with_notes(text, topics)
        ids = keys + [f"doctor:{d.id}" for d in doctors]
        choices = tuple(Choice(f"person:{d.practitioner}",
                               render.person_name(self.k, d.practitioner))
                        for d in doctors[:MAX_CHOICES])
        return self._reply("doctor", text, lang, ids=tuple(dict.fromkeys(ids)),
                           confidence=conf, choices=choices)

    def _with_notes(self, text: str, topics) -> str:
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
                               ids=tuple(f"talk:{t.id}" for t in talks),
                               choices=tuple(Choice(f"talk:{t.id}", render.label(
                                   self.k, f"talk:{t.id}")) for t in talks))
        if target == "list:speakers":
            return self._reply("speaker", render.speakers(self.k), lang, confidence=conf,
                               ids=tuple(f"person:{p.id}" for p in self.k.people),
                               choices=tuple(Choice(f"person:{t.speaker}", render.person_name(
                                   self.k, t.speaker)) for t in self.k.talks))
        if target == "list:doctors":
            return self._reply("doctor", render.directory_overview(self.k), lang,
                               confidence=conf,
                               ids=tuple(f"doctor:{d.id}" for d in self.k.doctors),
                               choices=tuple(Choice(f"specialty:{s.id}", render.name_of(s))
                                             for s in self.k.specialties))
        return self._reply("help", render.help_text(self.k), lang, choices=_list_choices())

    @staticmethod
    def _reply(intent, text, lang, *, choices=(), ids=(), confidence=1.0, candidates=()):
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


def _overlap(mentions: list[Mention]) -> bool:
    return any(a.positions & b.positions for i, a in enumerate(mentions)
               for b in mentions[i + 1:])


def _ambiguous_or_best(a: Analysis, mentions: list[Mention]) -> list[Mention]:
    """Return the best mention, plus those on other words (several people named) and those
    on the same words within AMBIGUITY_MARGIN (which the caller turns into a question).

    "Best" weighs the match score by how much of the message the mention explains, so
    "li fang" is Liu Fang (both words, one typo) rather than Li Jinbao (one exact word).
    """
    def value(m: Mention) -> float:
        return round(m.score * (0.5 + 0.5 * a.explained([m])), 4)

    ordered = sorted(mentions, key=lambda m: (-value(m), -m.score, m.key))
    best = ordered[0]
    out = [best]
    for m in ordered[1:]:
        same_words = m.positions & best.positions
        if (same_words and value(best) - value(m) <= AMBIGUITY_MARGIN) or \
                (not same_words and m.score >= best.score - 0.2 and
                 not any(m.positions & o.positions for o in out)):
            out.append(m)
    return out


def _coverage(k: Knowledge, items) -> dict[str, list]:
    """Map topic id -> items (talks or doctors) covering it directly or via a narrower topic."""
    parents: dict[str, list[str]] = {t.id: list(t.broader) for t in k.topics}

    def ancestors(topic_id: str, seen=None) -> set[str]:
        seen = seen if seen is not None else set()
        for p in parents.get(topic_id, []):
            if p not in seen:
                seen.add(p)
                ancestors(p, seen)
        return seen

    out: dict[str, list] = defaultdict(list)
    for item, topic_ids in items:
        covered = set(topic_ids)
        for t in topic_ids:
            covered |= ancestors(t)
        for t in covered:
            out[t].append(item)
    return dict(out)


def _rank(coverage: dict[str, list], topics: list[tuple[Topic, float]]) -> dict[str, float]:
    """Score items by the asked topics they cover; a topic covered by few items weighs more."""
    scores: dict[str, float] = defaultdict(float)
    for topic, weight in topics:
        items = coverage.get(topic.id, [])
        for item in items:
            scores[item.id] += weight / len(items)
    return scores


def _top(items: list, scores: dict[str, float]) -> list:
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
