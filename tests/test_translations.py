"""Every knowledge entry is answered in each of the four languages, in that language's
script; ``forumbot check`` requires all four languages of every user-visible text."""
from __future__ import annotations

import pytest
from edits import edit
from langcheck import reply_language

from bot.core.types import Message
from bot.knowledge.loader import check_knowledge, load_knowledge
from bot.knowledge.models import TRANSLATED_FIELDS, LocalizedMap

LANGS = ("en", "fr", "ar", "zh")

# How a user of each language asks about a thing by its name (general question frames,
# filled with the entry's own name in that language from the knowledge).
FRAMES = {
    "person": {"en": "who is {}?", "fr": "qui est {} ?", "ar": "من هو {}؟", "zh": "{}是谁？"},
    "topic": {"en": "who spoke about {}?", "fr": "qui a présenté sur : {} ?",
              "ar": "من تحدث عن {}؟", "zh": "谁讲了{}？"},
    "talk": {"en": "who presented {}?", "fr": "qui a présenté : {} ?",
             "ar": "من قدّم محاضرة {}؟", "zh": "谁作了“{}”的报告？"},
    "fact": {"en": "{}?", "fr": "{} ?", "ar": "{}؟", "zh": "{}？"},
    "specialty": {"en": "I am looking for {}", "fr": "je cherche : {}", "ar": "أبحث عن {}",
                  "zh": "我要找{}"},
}


def _name(entry, kind: str, lang: str) -> str:
    if kind == "person":
        return entry.name
    if kind in ("topic", "specialty"):
        return (getattr(entry.names, lang) or entry.names.en)[0]
    value = entry.title if kind == "talk" else entry.label
    return value.get(lang) if isinstance(value, LocalizedMap) else value


def _questions(knowledge):
    for key, entry in knowledge.entries.items():
        kind = key.split(":", 1)[0]
        if kind in FRAMES:
            for lang in LANGS:
                yield key, lang, FRAMES[kind][lang].format(_name(entry, kind, lang))


def test_each_entry_asked_in_each_language_is_answered_in_that_language(assistant, knowledge):
    asked = list(_questions(knowledge))
    assert len(asked) >= 4 * (len(knowledge.people) + len(knowledge.talks) + len(knowledge.facts))
    wrong, missed = [], []
    for key, lang, question in asked:
        reply = assistant.reply(Message(question))
        if reply.lang != lang or reply_language(reply.text) != lang:
            wrong.append((question, reply.lang, reply_language(reply.text), reply.text[:80]))
        if key not in reply.ids and not any(c.id == key for c in reply.choices):
            missed.append((question, reply.intent, reply.ids[:3]))
    assert wrong == [], wrong
    # the entry asked about is in the answer (or offered as a "did you mean" choice)
    assert len(missed) <= len(asked) // 20, missed


@pytest.mark.parametrize("lang", LANGS)
def test_every_entry_card_and_list_is_written_in_the_chosen_language(assistant, knowledge, lang):
    keys = [*knowledge.entries, "list:sessions", "list:speakers", "list:doctors", "help"]
    for key in keys:
        reply = assistant.choose(key, lang)
        assert reply.intent != "fallback", key
        assert reply_language(reply.text) == lang, (key, reply.text[:200])
        for choice in reply.choices:  # button labels in the reply's language (or a name)
            shown = choice.label
            if choice.id.startswith("person:"):
                continue  # a person's name is written as the article writes it
            assert reply_language(shown + " " + shown) in (lang, "en"), (key, shown)
            if lang in ("ar", "zh"):
                assert reply_language(shown + " " + shown) == lang, (key, shown)


def test_the_bundled_knowledge_has_every_text_in_four_languages(knowledge):
    for entries in (knowledge.facts, knowledge.people, knowledge.talks, knowledge.doctors,
                    [knowledge.event], knowledge.emergency.numbers):
        for entry in entries:
            for field in TRANSLATED_FIELDS[type(entry)]:
                values = getattr(entry, field)
                for value in values if isinstance(values, list) else [values]:
                    if value is not None:
                        assert isinstance(value, LocalizedMap), (entry, field)
                        assert all(value.get(lang) for lang in LANGS), (entry, field)
    _, problems = check_knowledge(knowledge_dir(), warnings=False)
    assert [p for p in problems if "version" in p.message] == []


def knowledge_dir():
    from conftest import KNOWLEDGE
    return KNOWLEDGE


def test_a_text_without_all_languages_is_an_error_at_its_line(knowledge_copy):
    people = knowledge_copy / "people.yaml"
    edit(people, "      zh: 作了关于产后出血的报告。\n", "")
    edit(people, "    role: {en: Nurse, fr: Infirmière, ar: ممرضة, zh: 护士}\n",
         "    role: Midwife nurse\n")
    knowledge, problems = check_knowledge(knowledge_copy, warnings=False)
    assert knowledge is None
    errors = [p for p in problems if p.severity == "error"]
    assert [p.field for p in errors] == ["people[8].at_forum", "people[10].role"]
    first, second = errors
    assert "no Chinese version" in first.message and "add `zh:`" in first.message
    assert "no French, Arabic or Chinese version" in second.message
    assert "english_first: true" in second.message
    lines = people.read_text(encoding="utf-8").splitlines()
    assert "at_forum:" in lines[first.line - 1] and "role: Midwife nurse" in lines[second.line - 1]


def test_english_first_publishes_with_warnings_and_english_fallback(knowledge_copy):
    people = knowledge_copy / "people.yaml"
    edit(people, "    role: {en: Nurse, fr: Infirmière, ar: ممرضة, zh: 护士}\n",
         "    role: Midwife nurse\n")
    with (knowledge_copy / "vocabulary.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\ntranslations:\n  english_first: true\n")
    knowledge, problems = check_knowledge(knowledge_copy, warnings=False)
    assert knowledge is not None
    [problem] = problems
    assert problem.severity == "warning" and problem.field == "people[10].role"
    assert "Published in English first" in problem.message
    from bot.core.engine import Assistant
    reply = Assistant(load_knowledge(knowledge_copy)).reply(Message("qui est Refki Ilham ?"))
    assert reply.lang == "fr" and "Refki Ilham, Midwife nurse." in reply.text
    assert "l'infirmière Refki Ilham" in reply.text  # the translated texts stay French


def test_topic_without_names_in_a_language_is_an_error(knowledge_copy):
    topics = knowledge_copy / "topics.yaml"
    edit(topics, "      zh: [新生儿复苏, 复苏, 新生儿窒息复苏]\n", "")
    knowledge, problems = check_knowledge(knowledge_copy, warnings=False)
    assert knowledge is None
    [problem] = [p for p in problems if p.severity == "error"]
    assert problem.field == "topics[11].names"
    assert "topic:neonatal-resuscitation has no Chinese names" in problem.message


def test_example_questions_missing_a_language_are_an_error(knowledge_copy):
    vocabulary = knowledge_copy / "vocabulary.yaml"
    edit(vocabulary, '    zh: ["谁讲了子痫前期？", "Cai Bin 是谁？", "我要找麻醉医生"]\n', "")
    knowledge, problems = check_knowledge(knowledge_copy, warnings=False)
    assert knowledge is None
    [problem] = problems
    assert problem.field == "vocabulary.examples" and "no Chinese version" in problem.message
