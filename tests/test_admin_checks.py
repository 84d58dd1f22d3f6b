"""Checks for admins: warnings about valid but weak knowledge, ``forumbot check`` output and
exit codes, and the JSON Schemas editors use to validate the YAML files."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.knowledge.loader import check_knowledge, knowledge_files
from bot.knowledge.schema import FIELD_DOCS, FILES, file_schema, render, schema_path, stale_schemas
from bot.knowledge.yamlsafe import load_yaml_file

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE = ROOT / "knowledge"
SCRIPT = Path(sys.executable).parent / "forumbot"


def warnings_of(folder: Path):
    knowledge, problems = check_knowledge(folder)
    assert knowledge is not None, [str(p) for p in problems if p.severity == "error"]
    assert all(p.severity == "warning" for p in problems)
    return problems


def add_file(folder: Path, text: str) -> Path:
    """A section may be split over files: new entries go in their own file, so the tests do
    not depend on the wording of the bundled files."""
    path = folder / "extra.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if needle in line)


def about(problems, *words):
    return [p for p in problems if all(w in p.message for w in words)]


# -- warnings --------------------------------------------------------------------------
def test_bundled_knowledge_has_only_warnings_with_positions():
    # how fast: benchmarks/bench_directory.py (timed unit tests are flaky on shared machines)
    knowledge, problems = check_knowledge(KNOWLEDGE)
    assert knowledge is not None
    for p in problems:
        assert p.severity == "warning"
        assert Path(p.file).parent == KNOWLEDGE and p.line and p.column and p.field, str(p)


def test_shared_alias_on_two_entries_is_one_warning_per_pair(knowledge_copy):
    extra = add_file(knowledge_copy, """\
people:
  - id: wang-a
    name: Wang Anming
    aliases: [Dr. Wang, Wang A]
  - id: wang-b
    name: Wang Beilin
    aliases: [Wang B, Dr Wang, "DR. WANG", wang a]
""")
    problems = warnings_of(knowledge_copy)
    [w] = about(problems, "person:wang-b and person:wang-a are both reached")
    assert "'Dr Wang' / 'Dr. Wang'" in w.message and "'wang a' / 'Wang A'" in w.message
    assert "asking 'Dr Wang' now gives:" in w.message
    # at the alias of the entry further down, with its field
    assert (w.file, w.line, w.field) == (str(extra), line_of(extra, "Wang B, Dr Wang"),
                                         "people[1].aliases[1]")


def test_shared_alias_across_kinds_but_not_with_cue_words(knowledge_copy):
    add_file(knowledge_copy, """\
topics:
  - id: placenta
    name: Placenta previa
    names:
      en: [placenta previa, low-lying placenta, doctor]
      fr: [placenta praevia]
      ar: [المشيمة المنزاحة]
      zh: [前置胎盘]
specialties:
  - id: placenta-clinic
    name: Placenta clinic
    names:
      en: [the low lying placenta]
      fr: [clinique du placenta]
      ar: [عيادة المشيمة]
      zh: [胎盘门诊]
""")
    problems = warnings_of(knowledge_copy)
    [w] = about(problems, "specialty:placenta-clinic and topic:placenta are both reached")
    assert "'the low lying placenta' / 'low-lying placenta'" in w.message
    assert not about(problems, "cue:")  # "doctor" is also a cue word: not a shared alias


def test_entry_its_own_name_does_not_reach_is_a_warning(knowledge_copy):
    extra = add_file(knowledge_copy, """\
facts:
  - id: fact-zebra
    label: {en: Zebra crossing, fr: Passage piéton, ar: ممر المشاة, zh: 斑马线}
    aliases: [zebra crossing rules]
    answer: {en: Only for this test., fr: Pour ce test., ar: لهذا الاختبار فقط., zh: 仅用于测试。}
""")
    problems = warnings_of(knowledge_copy)
    [w] = about(problems, "asking 'Zebra crossing' does not find fact:fact-zebra")
    assert "(answer: fallback, no entry" in w.message
    assert (w.file, w.line, w.column, w.field) == (str(extra), 3, 12, "facts[0].label")


ENGLISH_FIRST = "translations:\n  english_first: true\n"


def test_topic_without_translations_names_the_missing_languages(knowledge_copy):
    extra = add_file(knowledge_copy, """\
topics:
  - id: anemia
    name: Anemia in pregnancy
    names:
      en: [anemia in pregnancy, anaemia]
      ar: [فقر الدم]
""" + ENGLISH_FIRST)
    problems = warnings_of(knowledge_copy)
    [w] = about(problems, "topic:anemia has no")
    assert "French or Chinese" in w.message and "Arabic" not in w.message
    assert "`fr:`, `zh:`" in w.message
    assert (w.file, w.line, w.field) == (str(extra), 4, "topics[0].names")


def test_talk_text_without_some_languages_or_in_plain_text(knowledge_copy):
    extra = add_file(knowledge_copy, """\
talks:
  - id: talk-extra-plain
    order: 7
    speaker: cai-bin
    title: An extra talk
    topics: [postpartum-hemorrhage]
    summary: Only English here.
  - id: talk-extra-map
    order: 8
    speaker: cai-bin
    title: {en: Another extra talk, fr: Une autre intervention, ar: محاضرة أخرى, zh: 另一个报告}
    topics: [postpartum-hemorrhage]
    summary:
      en: English only again.
      zh: 只有中文。
""" + ENGLISH_FIRST)
    problems = warnings_of(knowledge_copy)
    plain = about(problems, "no French, Arabic or Chinese version", "plain English text")
    assert [(p.line, p.field) for p in plain] == [
        (line_of(extra, "title: An extra talk"), "talks[0].title"),
        (line_of(extra, "Only English here."), "talks[0].summary")]
    [no_fr] = about(problems, "no French or Arabic version", "add `fr:`, `ar:`")
    summary_key = line_of(extra, "en: English only again.") - 1
    assert (no_fr.line, no_fr.column, no_fr.field) == (summary_key, 5, "talks[1].summary")
    assert not about(problems, "talks[1].title")


def test_warnings_never_stop_a_load(monkeypatch, knowledge_copy):
    import bot.knowledge.warnings as module

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "warnings_for", broken)
    knowledge, problems = check_knowledge(knowledge_copy)
    assert knowledge is not None
    assert [p.severity for p in problems if "boom" in p.message] == ["warning"]


# -- forumbot check ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def forumbot() -> str:
    path = str(SCRIPT) if SCRIPT.exists() else shutil.which("forumbot")
    assert path, "the forumbot console script is not installed: run pip install -e '.[test]'"
    return path


def run(forumbot, *args):
    return subprocess.run([forumbot, *args], capture_output=True, text=True, encoding="utf-8",
                          timeout=60)


@pytest.fixture
def with_warning(knowledge_copy) -> Path:
    add_file(knowledge_copy, "topics:\n  - id: anemia\n    name: Anemia\n"
                             "    names:\n      en: [anemia]\n" + ENGLISH_FIRST)
    return knowledge_copy


def test_check_with_only_warnings_exits_0_and_lists_them_after_the_summary(forumbot,
                                                                           with_warning):
    proc = run(forumbot, "check", str(with_warning))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("OK:")
    assert any("warning: topics[0].names: topic:anemia has no" in x for x in lines)
    count = len([x for x in lines if ": warning: " in x])
    assert lines[-1] == f"0 error(s), {count} warning(s); warnings do not stop the bot"


def test_check_json_contains_warnings_and_ok(forumbot, with_warning):
    proc = run(forumbot, "check", str(with_warning), "--format", "json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert data["ok"] is True and data["errors"] == 0 and data["warnings"] >= 1
    warned = [p for p in data["problems"] if "topic:anemia has no" in p["message"]]
    assert warned and warned[0]["severity"] == "warning" and warned[0]["line"] == 4
    assert set(warned[0]) == {"file", "line", "column", "field", "message", "severity"}


def test_check_with_an_error_exits_1_errors_first(forumbot, with_warning):
    people = with_warning / "people.yaml"
    people.write_text(people.read_text(encoding="utf-8").replace("people:", "peeple:", 1),
                      encoding="utf-8")
    proc = run(forumbot, "check", str(with_warning))
    assert proc.returncode == 1
    assert ": error: peeple: unknown section" in proc.stdout
    errors = len([x for x in proc.stdout.splitlines() if ": error: " in x])
    assert proc.stdout.splitlines()[-1].startswith(f"{errors} error(s), ")
    data = json.loads(run(forumbot, "check", str(with_warning), "--format", "json").stdout)
    assert data["ok"] is False and data["problems"][0]["severity"] == "error"


def test_check_write_schemas_writes_them_into_the_folder(forumbot, knowledge_copy):
    shutil.rmtree(knowledge_copy / "schemas")
    proc = run(forumbot, "check", str(knowledge_copy), "--write-schemas", "--format", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["ok"] is True
    assert stale_schemas(knowledge_copy) == []
    assert "people.schema.json" in proc.stderr


# -- JSON Schemas ------------------------------------------------------------------------
def test_committed_schemas_match_the_models():
    stale = [str(p.relative_to(ROOT)) for p in stale_schemas(KNOWLEDGE)]
    assert not stale, (f"{', '.join(stale)} do not match bot/knowledge/models.py: run "
                       "`python -m bot.knowledge.schema` (or `forumbot check --write-schemas`) "
                       "and commit the result")


def test_every_bundled_file_names_its_schema_on_the_first_line():
    for path in knowledge_files(KNOWLEDGE):
        assert path.stem in FILES, f"{path.name} has no schema: add it to schema.FILES"
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
        assert first == f"# yaml-language-server: $schema=schemas/{path.stem}.schema.json"
        assert schema_path(KNOWLEDGE, path.stem).is_file()


def test_every_model_field_has_a_description():
    described = set()
    for name in FILES:
        for model, definition in file_schema(name).get("$defs", {}).items():
            for field, prop in definition.get("properties", {}).items():
                assert prop.get("description"), f"add FIELD_DOCS[({model!r}, {field!r})]"
                described.add((model, field))
    assert not set(FIELD_DOCS) - described, "FIELD_DOCS names fields the models no longer have"


def validator(name: str):
    jsonschema = pytest.importorskip("jsonschema")
    cls = jsonschema.validators.validator_for(file_schema(name))
    cls.check_schema(file_schema(name))
    return cls(json.loads(render(name)))


@pytest.mark.parametrize("name", list(FILES))
def test_bundled_file_validates_against_its_schema(name):
    check = validator(name)
    data = load_yaml_file(KNOWLEDGE / f"{name}.yaml").data
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in check.iter_errors(data)]
    assert not errors, errors


def test_schema_catches_what_the_loader_rejects():
    check = validator("people")
    bad = {"people": [{"id": "Cai Bin", "name": "Cai Bin", "alias": ["x"]}]}
    messages = " ".join(e.message for e in check.iter_errors(bad))
    assert "'alias' was unexpected" in messages and "does not match" in messages
    assert list(validator("doctors").iter_errors(
        {"doctors": [{"id": "d", "practitioner": "p", "specialty": ["s"],
                      "available_times": [{"days": ["monday"], "start": "9:30",
                                           "end": "17:00"}]}]}))
