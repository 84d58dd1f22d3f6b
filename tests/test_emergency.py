"""Urgent-symptom triage and the health safety net (knowledge/emergency.yaml, issue 9).

The evaluation set tests/emergency_eval.yaml holds over 300 messages, part of them written
by a tester who never saw the rules: every urgent one must get the emergency reply with the
numbers in its first 300 characters, and no other one may become an emergency.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.core.types import INTENTS, Message
from bot.knowledge.loader import check_knowledge

EVAL = yaml.safe_load((Path(__file__).parent / "emergency_eval.yaml").read_text("utf-8"))
URGENT = [item for item in EVAL if item["urgent"]]
NOT_URGENT = [item for item in EVAL if not item["urgent"]]
NUMBERS = ("141", "15", "120")


def test_the_evaluation_set_covers_every_concept_language_and_script():
    assert len(EVAL) >= 300 and len(URGENT) >= 150 and len(NOT_URGENT) >= 150
    concepts = Counter(item["concept"] for item in URGENT)
    assert set(concepts) >= {"bleeding", "seizure", "collapse", "headache_vision",
                             "swelling_headache", "fetal_movements", "waters",
                             "abdominal_pain", "fever", "breath_chest", "newborn", "self_harm"}
    assert set(Counter(item["lang"] for item in URGENT)) >= {
        "en", "fr", "ar", "ar-latn", "zh", "zh-hant"}
    kinds = {item["concept"] for item in NOT_URGENT}
    assert {"programme_question", "past_history", "general_info", "negated"} <= kinds
    assert Counter(item["source"] for item in EVAL)["blind"] >= 100


def test_every_urgent_message_gets_the_emergency_numbers_first(assistant):
    missed = []
    for item in URGENT:
        reply = assistant.reply(Message(item["q"]))
        head = reply.text[:300]
        if reply.intent != "emergency" or not all(n in head for n in NUMBERS):
            missed.append((item["concept"], item["lang"], item["q"], reply.intent))
    assert missed == [], f"{len(missed)} of {len(URGENT)} urgent messages missed"


def test_no_other_message_becomes_an_emergency(assistant):
    wrong = [(item["concept"], item["q"]) for item in NOT_URGENT
             if assistant.reply(Message(item["q"])).intent == "emergency"]
    assert wrong == [], f"{len(wrong)} of {len(NOT_URGENT)} messages read as emergencies"


def test_every_red_flag_concept_is_reached_by_the_evaluation_set(assistant, knowledge):
    fired = {i.split(":", 1)[1] for item in URGENT
             for i in assistant.reply(Message(item["q"])).ids if i.startswith("emergency:")}
    expected = {c.id for c in knowledge.emergency.concepts} - {"asks-for-emergency"}
    assert expected <= fired, expected - fired


@pytest.mark.parametrize("text", [
    "tell me about the talk on treating postpartum hemorrhage at emergency transfers",
    "who spoke about seizures?",
    "l'intervention de Brini Jihane parlait-elle des convulsions ?",
])
def test_a_programme_question_naming_a_red_flag_stays_a_programme_question(ask, text):
    assert ask(text).intent not in ("emergency", "health")


def test_someone_in_danger_who_also_asks_about_the_programme_gets_the_numbers(ask):
    assert ask("my wife is bleeding heavily right now, which talk covered that?").intent \
        == "emergency"
    assert ask("I'm having a seizure, who spoke about that?").intent == "emergency"


@pytest.mark.parametrize("urgent,calm", [
    ("she is bleeding heavily", "she is not bleeding heavily any more"),
    ("my wife is bleeding a lot", "my wife was bleeding a lot but it has stopped"),
    ("je saigne beaucoup", "je ne saigne plus beaucoup"),
    ("مراتي كتنزف بزاف", "مراتي ما بقاتش كتنزف بزاف"),
    ("mrati katnzef bzaf", "mrati makatnzefch bzaf"),
    ("她大出血", "她已经不再大出血了"),
    ("I had a seizure this morning", "I had a seizure years ago"),
    ("she fainted at 30 weeks", "she fainted in 2015 when she was pregnant"),
])
def test_negation_and_distant_past_cancel_a_red_flag(ask, urgent, calm):
    assert ask(urgent).intent == "emergency"
    assert ask(calm).intent != "emergency"


@pytest.mark.parametrize("text", [
    "the baby is not moving", "the baby has not moved since yesterday, 35 weeks",
    "le bébé ne bouge plus", "الجنين ما كيتحركش", "宝宝不动了",
])
def test_an_absence_is_a_red_flag_when_the_pattern_says_so(ask, text):
    assert ask(text).intent == "emergency"


@pytest.mark.parametrize("text", [
    "the baby is moving a lot today, 30 weeks", "what should my blood pressure be at 30 weeks?",
    "how much does a c-section cost",
])
def test_ordinary_messages_with_red_flag_words_are_not_emergencies(ask, text):
    assert ask(text).intent != "emergency"


HEALTH = {
    "en": ("can I take aspirin while pregnant?", "If this is urgent", "medical advice",
           "doctor or midwife"),
    "fr": ("puis-je prendre de l'aspirine enceinte ?", "En cas d'urgence", "avis médical",
           "sage-femme"),
    "ar": ("هل يمكنني أخذ الأسبرين وأنا حامل؟", "إذا كان الأمر عاجلاً", "نصيحة طبية", "القابلة"),
    "zh": ("怀孕能吃感冒药吗？", "如果情况紧急", "医疗建议", "助产士"),
}


@pytest.mark.parametrize("lang", sorted(HEALTH))
def test_a_medical_question_gets_the_safety_net_in_its_language(ask, lang):
    question, lead, no_advice, carer = HEALTH[lang]
    reply = ask(question)
    assert reply.intent == "health" and reply.lang == lang
    assert reply.text.startswith(lead)
    first = reply.text.splitlines()[0]
    assert all(n in first for n in NUMBERS)
    assert no_advice in reply.text and carer in reply.text
    assert [c.id for c in reply.choices] == ["list:doctors", "emergency"]


@pytest.mark.parametrize("text", [
    "is it safe to eat fish?", "I bled a little yesterday, should I worry?",
    "my wife is not bleeding any more, should we see someone?",
    "I had a seizure years ago, can I still get pregnant?",
    "wach n9der nakol l7out w ana 7amla", "怀孕可以喝咖啡吗",
])
def test_a_personal_health_situation_never_gets_a_bare_fallback(ask, text):
    reply = ask(text)
    assert reply.intent == "health", reply
    assert "141" in reply.text.splitlines()[0]


def test_health_is_an_intent_of_its_own():
    assert "health" in INTENTS and "emergency" in INTENTS


def test_a_health_question_about_the_programme_is_answered_from_the_programme(ask):
    reply = ask("I'm pregnant, who talked about gestational diabetes?")
    assert reply.intent == "session"


def test_the_checker_names_an_unknown_group_with_a_suggestion(knowledge_copy):
    folder = knowledge_copy
    path = folder / "emergency.yaml"
    path.write_text(path.read_text("utf-8").replace("all: [seizure]", "all: [seizur]"), "utf-8")
    knowledge, problems = check_knowledge(folder, warnings=False)
    assert knowledge is None
    messages = [p.message for p in problems if p.severity == "error"]
    assert any("`seizur` is not the name of a group" in m and "`seizure`" in m
               for m in messages), messages


@pytest.mark.parametrize("padding", ["hello " * 200, "a" * 986 + " ", "我怀孕了，" * 400])
def test_a_red_flag_at_the_end_of_a_long_message_still_gets_the_emergency_reply(ask, padding):
    # the search reads the first 1,000 characters; triage reads the whole account
    reply = ask(padding + "I am pregnant and bleeding heavily with a severe headache")
    assert reply.intent == "emergency" and "141" in reply.text[:300]
