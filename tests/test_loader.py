"""Loading the knowledge folder: the bundled files are valid, and every admin mistake is
reported with file, line, field and a message that says what to do."""
from __future__ import annotations

from pathlib import Path

import pytest
from edits import edit, line_of

from bot.knowledge.loader import check_knowledge, load_knowledge
from bot.knowledge.problems import KnowledgeError


def errors_of(folder: Path):
    knowledge, problems = check_knowledge(folder)
    assert knowledge is None, "a knowledge version with errors must not load"
    return [p for p in problems if p.severity == "error"]




def test_bundled_knowledge_is_valid_and_complete(knowledge):
    assert knowledge.event.date is None and knowledge.event.start_time is None
    assert knowledge.event.followers == 12000
    assert [t.speaker for t in sorted(knowledge.talks, key=lambda t: t.order)] == [
        "xu-xianming", "li-jinbao", "el-hamzaoui", "cai-bin", "brini-jihane", "refki-ilham"]
    assert len(knowledge.people) == 11
    assert {n.number for n in knowledge.emergency.numbers} == {"141", "15", "120"}
    for doctor in knowledge.doctors:  # nothing invented about real people
        assert not doctor.telecom and not doctor.available_times and not doctor.location


def test_unquoted_time_is_an_error_with_place_and_advice(knowledge_copy):
    f = knowledge_copy / "event.yaml"
    edit(f, "  start_time:\n", "  start_time: 9:30\n")
    [err] = errors_of(knowledge_copy)
    assert (err.file, err.line, err.field) == (str(f), line_of(f, "start_time: 9:30"),
                                              "event.start_time")
    assert '"9:30"' in err.message and "570" in err.message


def test_quoted_time_is_accepted(knowledge_copy):
    edit(knowledge_copy / "event.yaml", "  start_time:\n", '  start_time: "09:30"\n')
    assert load_knowledge(knowledge_copy).event.start_time == "09:30"


def test_unknown_speaker_id_names_the_talk_and_suggests(knowledge_copy):
    f = knowledge_copy / "programme.yaml"
    edit(f, "speaker: cai-bin", "speaker: cai-bim")
    [err] = errors_of(knowledge_copy)
    assert err.field == "talks[3].speaker" and err.file == str(f)
    assert (err.line, err.column) == (line_of(f, "speaker: cai-bim"), 14)
    assert "cai-bim" in err.message and "cai-bin" in err.message


def test_duplicate_key_is_an_error(knowledge_copy):
    f = knowledge_copy / "people.yaml"
    edit(f, "    name: Cai Bin\n", "    name: Cai Bin\n    name: Cai Bing\n")
    errs = errors_of(knowledge_copy)
    assert any("twice" in e.message and e.line == line_of(f, "name: Cai Bing") for e in errs)


def test_missing_and_misspelt_fields(knowledge_copy):
    f = knowledge_copy / "programme.yaml"
    edit(f, "    summary:\n      en: >-\n        Dr. Cai Bin", "    sumary:\n      en: >-\n        Dr. Cai Bin")
    messages = [e.message for e in errors_of(knowledge_copy)]
    assert any("needs a `summary`" in m for m in messages)
    assert any("unknown field `sumary`" in m and "`summary`" in m for m in messages)


def test_bad_indentation_is_reported_with_line(knowledge_copy):
    f = knowledge_copy / "people.yaml"
    edit(f, "    name: Liu Fang\n", "    name: Liu Fang\n  role: oops\n")
    [err] = errors_of(knowledge_copy)
    assert err.file == str(f) and err.line is not None and "indent" in err.message


def test_yes_no_and_leading_zero_and_plus_are_caught(knowledge_copy):
    f = knowledge_copy / "people.yaml"
    edit(f, "    title: {en: Nurse, fr: Infirmière, ar: ممرضة, zh: 护士}\n", "    title: no\n    country: 0612\n    role: +212600000000\n")
    fields = {e.field for e in errors_of(knowledge_copy)}
    assert {"people[10].title", "people[10].country", "people[10].role"} <= fields


def test_every_error_of_every_file_is_listed_at_once(knowledge_copy):
    edit(knowledge_copy / "programme.yaml", "speaker: cai-bin", "speaker: nobody")
    edit(knowledge_copy / "doctors.yaml", "specialty: [midwifery]", "specialty: [midwifry]")
    errs = errors_of(knowledge_copy)
    assert {Path(e.file).name for e in errs} == {"programme.yaml", "doctors.yaml"}


def test_duplicate_id_is_an_error(knowledge_copy):
    edit(knowledge_copy / "people.yaml", "  - id: qin-jing", "  - id: liu-fang")
    assert any("used twice" in e.message for e in errors_of(knowledge_copy))


def test_non_utf8_file_is_reported(knowledge_copy):
    (knowledge_copy / "extra.yaml").write_bytes(b"people:\n  - id: x\n    name: caf\xe9\n")
    [err] = errors_of(knowledge_copy)
    assert "UTF-8" in err.message and err.line == 3


def test_load_knowledge_raises_with_every_problem(knowledge_copy):
    edit(knowledge_copy / "programme.yaml", "speaker: cai-bin", "speaker: nobody")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge(knowledge_copy)
    assert "programme.yaml" in str(exc.value) and "nobody" in str(exc.value)


def test_an_emptied_file_is_one_error_not_one_per_reference(knowledge_copy):
    (knowledge_copy / "people.yaml").write_text("people: []\n", encoding="utf-8")
    [err] = errors_of(knowledge_copy)
    assert err.field == "people" and "people.yaml empty or missing" in err.message


def test_missing_folder(tmp_path):
    knowledge, problems = check_knowledge(tmp_path / "nope")
    assert knowledge is None and "does not exist" in problems[0].message


def test_every_entry_is_registered_under_its_reference(knowledge):
    from bot.knowledge.refs import EntryRef

    entries = knowledge.entries
    assert len(entries) == 1 + sum(len(x) for x in (
        knowledge.facts, knowledge.people, knowledge.talks, knowledge.topics,
        knowledge.specialties, knowledge.doctors))
    for key, entry in entries.items():
        assert str(entry.ref) == key and EntryRef.parse(key) == entry.ref
        assert knowledge.entry(entry.ref) is entry
    cai = EntryRef.parse("person:cai-bin")
    assert (cai.kind, cai.id) == ("person", "cai-bin")
    assert knowledge.entry(cai).name == "Cai Bin"
    assert knowledge.entry(EntryRef("person", "nobody")) is None


@pytest.mark.parametrize("key", ["list:talks", "lang:fr", "cue:doctor", "person:", "cai-bin", ""])
def test_strings_that_are_not_entry_references_are_refused(key):
    from bot.knowledge.refs import EntryRef

    with pytest.raises(ValueError):
        EntryRef.parse(key)
    assert EntryRef.find(key) is None
