"""``forumbot diff OLD NEW``: the answers an edit changes, for the test questions and the
most frequent questions of the question log, before and after."""
from __future__ import annotations

import json

from edits import edit, line_of

from bot.cli import main
from bot.knowledge.tests import load_tests
from bot.storage import QuestionLog, create_engine_for, migrate

STEAL = ("aliases: [Jihane Brini, Brini,", "aliases: [Jihane Brini, bleeding after birth, Brini,")


def forumbot(capsys, *args):
    code = main([str(a) for a in args])
    return code, capsys.readouterr().out


def test_an_alias_edit_shows_before_and_after(capsys, knowledge_copy, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/log.sqlite3"
    engine = create_engine_for(url)
    migrate(engine)
    log = QuestionLog(engine)
    for _ in range(3):
        log.record(question="Bleeding after birth: any doctor?", intent="fallback", lang="en",
                   answered=False, closest=None)
    log.record(question="price of parking", intent="fallback", lang="en", answered=False,
               closest=None)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    new = tmp_path / "new"
    __import__("shutil").copytree(knowledge_copy, new)
    edit(new / "people.yaml", *STEAL)

    code, out = forumbot(capsys, "diff", knowledge_copy, new)
    assert code == 1
    lines = out.splitlines()
    line = line_of(knowledge_copy / "tests.yaml", "who spoke about bleeding after birth")
    i = lines.index(f"who spoke about bleeding after birth  (tests.yaml:{line})")
    assert lines[i + 1].startswith("  before: session topic:postpartum-hemorrhage")
    assert lines[i + 3].startswith("  after:  speaker person:brini-jihane")
    assert "bleeding after birth any doctor  (question log (3x))" in lines
    assert "price of parking" not in out  # its answer does not change
    tests = len(load_tests(knowledge_copy).questions)
    assert lines[-1].startswith(f"2 of {tests + 2} answer(s) change ({tests} test question(s), "
                                "2 from the question log)")

    code, out = forumbot(capsys, "diff", knowledge_copy, new, "--format", "json")
    data = json.loads(out)
    assert data["changed"] == 2 and data["logged"] == 2
    assert data["changes"][0]["before"]["intent"] == "session"
    assert data["changes"][0]["after"]["ids"][0] == "person:brini-jihane"


def test_identical_folders_change_nothing(capsys, knowledge_copy, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "")
    code, out = forumbot(capsys, "diff", knowledge_copy, knowledge_copy)
    assert code == 0
    tests = len(load_tests(knowledge_copy).questions)
    assert out.splitlines()[-1] == (f"0 of {tests} answer(s) change ({tests} test question(s), 0 "
                                    "from the question log; no database configured (DATABASE_URL))")
