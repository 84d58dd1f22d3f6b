"""Admin test questions (knowledge/tests.yaml): ``forumbot test``, ``forumbot check`` and the
reload guard catch an edit that changes an answer, and the last good version keeps answering."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from edits import edit, line_of

from bot.admin import testrun
from bot.core.types import Message
from bot.knowledge.loader import load_knowledge
from bot.knowledge.tests import load_tests
from bot.reload import KnowledgeHolder

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
QUESTION = "who spoke about bleeding after birth"  # tests.yaml: Cai Bin's talk must answer it
STEAL = ("aliases: [Jihane Brini, Brini,", "aliases: [Jihane Brini, bleeding after birth, Brini,")


@pytest.fixture
def forumbot(forumbot_here):
    return forumbot_here


def run(forumbot, *args):
    return forumbot(*args)


@pytest.fixture
def stolen(knowledge_copy) -> Path:
    """A copy where a new alias of Brini Jihane takes Cai Bin's question."""
    edit(knowledge_copy / "people.yaml", *STEAL)
    return knowledge_copy


def test_bundled_tests_cover_every_entry_in_four_languages(assistant):
    tests = load_tests(KNOWLEDGE)
    assert not tests.problems and len(tests.questions) >= 60
    named = {key for q, _ in tests.questions for key in q.keys}
    assert set(assistant.k.entries) <= named
    langs = {assistant.reply(Message(q.q)).lang for q, _ in tests.questions}
    assert langs == {"en", "fr", "ar", "zh"}
    assert {q.intent for q, _ in tests.questions} >= {"emergency", "fallback"}


def test_bundled_tests_pass(forumbot):
    proc = run(forumbot, "test")
    assert proc.returncode == 0, proc.stdout
    total = len(load_tests(KNOWLEDGE).questions)
    assert proc.stdout.splitlines()[-1] == f"{total} of {total} test question(s) pass"


def test_an_alias_that_steals_an_answer_fails_forumbot_test(forumbot, stolen):
    proc = run(forumbot, "test", str(stolen))
    assert proc.returncode == 1
    line = line_of(stolen / "tests.yaml", QUESTION)
    out = proc.stdout
    assert f"FAIL tests.yaml:{line}: {QUESTION}" in out
    assert "expected: topic:postpartum-hemorrhage, talk:talk-postpartum-hemorrhage" in out
    assert "got:      speaker person:brini-jihane" in out
    assert "decided by: person:brini-jihane through 'bleeding after birth', score 1.0" in out
    assert out.splitlines()[-1].endswith("; 1 fail")

    data = json.loads(run(forumbot, "test", str(stolen), "--format", "json").stdout)
    assert data["ok"] is False and data["failed"] == 1
    [failure] = data["failures"]
    assert failure["question"] == QUESTION and failure["line"] == line
    assert failure["got"]["intent"] == "speaker"
    assert failure["alias"] == "bleeding after birth" and failure["decided_by"] == "person:brini-jihane"


def test_check_runs_the_test_questions(forumbot, stolen):
    proc = run(forumbot, "check", str(stolen))
    assert proc.returncode == 1
    line = line_of(stolen / "tests.yaml", QUESTION)
    assert f"tests.yaml:{line}: error: tests: test question '{QUESTION}'" in proc.stdout
    data = json.loads(run(forumbot, "check", str(stolen), "--format", "json").stdout)
    assert data["ok"] is False and data["errors"] == 1


def test_a_reload_that_changes_a_tested_answer_is_refused(knowledge_copy):
    holder = KnowledgeHolder(knowledge_copy)
    serving, assistant = holder.version, holder.assistant
    edit(knowledge_copy / "people.yaml", *STEAL)
    result = holder.reload("file change")
    assert not result.ok and not result.changed
    assert holder.version == serving and holder.assistant is assistant
    [changed] = result.tests
    assert changed.question.q == QUESTION
    assert "person:cai-bin" in changed.before.ids or "talk:talk-postpartum-hemorrhage" in \
        changed.before.ids
    assert changed.reply.ids[0] == "person:brini-jihane"
    assert "Cai Bin" in holder.assistant.reply(Message(QUESTION)).text  # the old one answers

    forced = holder.reload("/reload force by admin 1", force=True)
    assert forced.ok and forced.changed and forced.tests[0].question.q == QUESTION
    assert "Brini Jihane" in holder.assistant.reply(Message(QUESTION)).text


def test_the_setting_loads_a_failing_version_and_still_lists_the_changes(knowledge_copy):
    holder = KnowledgeHolder(knowledge_copy, check_tests=False)
    edit(knowledge_copy / "people.yaml", *STEAL)
    result = holder.reload("file change")
    assert result.ok and result.changed and [o.question.q for o in result.tests] == [QUESTION]
    assert all(p.severity == "warning" for p in result.problems)


def test_changing_the_test_with_the_answer_makes_the_reload_pass(knowledge_copy):
    holder = KnowledgeHolder(knowledge_copy)
    edit(knowledge_copy / "people.yaml", *STEAL)
    edit(knowledge_copy / "tests.yaml", "expect: [topic:postpartum-hemorrhage, "
         "talk:talk-postpartum-hemorrhage]", "expect: person:brini-jihane")
    result = holder.reload("file change")
    assert result.ok and result.changed and not result.tests


def test_mistakes_in_tests_yaml_are_reported_with_their_line(knowledge_copy):
    tests = knowledge_copy / "tests.yaml"
    edit(tests, '  - {q: "PPH", expect: topic:postpartum-hemorrhage}',
         '  - {q: "PPH", expect: postpartum-hemorrhage}\n'
         '  - {q: "who is cai bin", expect: person:cai-bim}\n'
         '  - {q: "hello"}\n'
         '  - {q: "hi", intent: greeting, langue: en}')
    loaded = load_tests(knowledge_copy)
    messages = {p.line: p.message for p in loaded.problems}
    assert "is not an entry key" in messages[line_of(tests, '"PPH"')]
    assert "give what the reply must get" in messages[line_of(tests, '{q: "hello"}')]
    assert "unknown field `langue`" in messages[line_of(tests, "langue")]
    assistant = KnowledgeHolder(knowledge_copy).assistant
    [unknown] = testrun.unknown_entries(assistant, loaded)
    assert unknown.line == line_of(tests, "cai-bim") and "did you mean `person:cai-bin`" in \
        unknown.message


def test_a_folder_without_tests_yaml_has_nothing_to_run(forumbot, knowledge_copy):
    (knowledge_copy / "tests.yaml").unlink()
    proc = run(forumbot, "test", str(knowledge_copy))
    assert proc.returncode == 0 and "no test questions" in proc.stderr
    assert run(forumbot, "check", str(knowledge_copy)).returncode == 0


def test_a_question_expecting_a_language_fails_in_another(knowledge_copy):
    edit(knowledge_copy / "tests.yaml", '{q: "merci beaucoup", intent: smalltalk, lang: fr}',
         '{q: "merci beaucoup", intent: smalltalk, lang: zh}')
    outcomes = testrun.run(KnowledgeHolder(knowledge_copy).assistant, load_tests(knowledge_copy))
    [failed] = [o for o in outcomes if not o.ok]
    assert failed.reasons == ("answered in fr, not zh",)


def test_uncovered_entries_are_listed(knowledge_copy):
    extra = knowledge_copy / "extra.yaml"
    extra.write_text("topics:\n  - id: anemia\n    name: Anemia\n    names:\n      en: [anemia]\n"
                     "      fr: [anémie]\n      ar: [فقر الدم]\n      zh: [贫血]\n", encoding="utf-8")
    k = load_knowledge(knowledge_copy)
    from bot.core.engine import Assistant
    assert testrun.uncovered(Assistant(k), load_tests(knowledge_copy)) == ["topic:anemia"]


def test_test_questions_know_every_intent_of_the_core():
    from typing import get_args

    from bot.core.types import INTENTS
    from bot.knowledge.tests import TestIntent
    assert set(get_args(TestIntent)) == set(INTENTS)
