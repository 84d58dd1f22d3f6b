"""Knowledge reload without downtime: a good edit replaces the version served, a broken
edit keeps the last good one and says where it is broken, and no answer ever mixes two."""
from __future__ import annotations

import threading

import pytest
from edits import edit, give_cai_bin_a_role, line_of, role_line

from bot.core.types import Message
from bot.knowledge.problems import KnowledgeError
from bot.reload import KnowledgeHolder


def test_a_good_edit_is_served_after_reload(knowledge_copy):
    recorded = []
    holder = KnowledgeHolder(knowledge_copy, on_loaded=lambda v, ok, e: recorded.append(
        (v.trigger, ok, e)))
    before = holder.version.version
    give_cai_bin_a_role(knowledge_copy / "people.yaml", "Head of the Delivery Room")
    result = holder.reload("file change")
    assert result.ok and result.changed and holder.version.version != before
    assert holder.version.trigger == "file change"
    assert "Head of the Delivery Room" in holder.assistant.reply(Message("who is cai bin")).text
    assert recorded == [("startup", True, 0), ("file change", True, 0)]


BROKEN_EDITS = [
    # (file, old, new, needle of the line reported, words of the message)
    ("people.yaml", "    name: Liu Fang\n", "    name: Liu Fang\n  role: oops\n",
     "  role: oops", "indentation"),
    ("people.yaml", "    name: Cai Bin\n", "    name: Cai Bin\n    name: Cai Bing\n",
     "name: Cai Bing", "twice"),
    ("programme.yaml", "speaker: cai-bin", "speaker: cai-bim", "speaker: cai-bim",
     "not the id"),
    ("event.yaml", "  start_time:\n", "  start_time: 9:30\n", "start_time: 9:30", "quotes"),
]


@pytest.mark.parametrize("name,old,new,needle,words", BROKEN_EDITS)
def test_a_broken_edit_keeps_the_old_version_and_names_the_place(knowledge_copy, name, old,
                                                                   new, needle, words):
    holder = KnowledgeHolder(knowledge_copy)
    serving = holder.version
    assistant = holder.assistant
    path = knowledge_copy / name
    edit(path, old, new)
    result = holder.reload("file change")
    assert not result.ok and not result.changed
    assert holder.version == serving and holder.assistant is assistant
    errors = [p for p in result.problems if p.severity == "error"]
    assert any(p.file == str(path) and p.line == line_of(path, needle) and words in p.message
               for p in errors), [str(p) for p in errors]
    assert "Cai Bin" in holder.assistant.reply(Message("who spoke about postpartum "
                                                       "hemorrhage")).text


def test_an_unchanged_folder_is_not_reloaded(knowledge_copy):
    holder = KnowledgeHolder(knowledge_copy)
    assistant = holder.assistant
    result = holder.reload("SIGHUP")
    assert result.ok and not result.changed and holder.assistant is assistant


def test_a_folder_broken_at_start_up_refuses_to_start(knowledge_copy):
    (knowledge_copy / "people.yaml").write_text("people: [\n", encoding="utf-8")
    with pytest.raises(KnowledgeError):
        KnowledgeHolder(knowledge_copy)


def test_answers_during_reloads_never_mix_two_versions(knowledge_copy):
    people, programme = knowledge_copy / "people.yaml", knowledge_copy / "programme.yaml"
    versions = {}
    for tag in ("A", "B"):
        give_cai_bin_a_role(people, f"Role {tag}")
        edit(programme, "shared his experience in dealing", f"shared ({tag}) experience in dealing")
        versions[tag] = (people.read_text(encoding="utf-8"), programme.read_text(encoding="utf-8"))
        edit(people, role_line(f"Role {tag}"), "")
        edit(programme, f"shared ({tag}) experience", "shared his experience")
    people.write_text(versions["A"][0], encoding="utf-8")
    programme.write_text(versions["A"][1], encoding="utf-8")
    holder = KnowledgeHolder(knowledge_copy)
    stop = threading.Event()
    seen: list[str] = []

    def ask() -> None:
        while not stop.is_set():
            seen.append(holder.assistant.reply(Message("who is cai bin")).text)

    workers = [threading.Thread(target=ask) for _ in range(3)]
    for w in workers:
        w.start()
    for i in range(6):  # A -> B -> A ...: each reload writes both files, then swaps
        tag = "B" if i % 2 == 0 else "A"
        people.write_text(versions[tag][0], encoding="utf-8")
        programme.write_text(versions[tag][1], encoding="utf-8")
        assert holder.reload("test").ok
    stop.set()
    for w in workers:
        w.join()
    assert len(seen) > 10
    for text in seen:
        assert ("Role A" in text and "shared (A)" in text) or \
               ("Role B" in text and "shared (B)" in text), text
