"""Behaviour of the strict YAML loader used for the hand-edited knowledge files."""
from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.knowledge.yamlsafe import (
    CACHE_MIN_BYTES,
    LoadedYaml,
    cache_dir,
    load_yaml_file,
    load_yaml_text,
)


def load(text: str) -> LoadedYaml:
    return load_yaml_text(textwrap.dedent(text), "k.yaml")


def errors(result: LoadedYaml):
    return [p for p in result.problems if p.severity == "error"]


def only_error(result: LoadedYaml):
    found = errors(result)
    assert len(found) == 1, [str(p) for p in result.problems]
    return found[0]


# --- plain values -----------------------------------------------------------------------

def test_plain_scalars_load_as_their_types():
    result = load("""\
        count: 12000
        neg: -3
        zero: 0
        ratio: 1.5
        small: -0.25
        on_site: true
        closed: FALSE
        a: ~
        b: null
        c:
        name: Dr Amal Bennani
        """)
    assert result.problems == []
    assert result.data == {"count": 12000, "neg": -3, "zero": 0, "ratio": 1.5, "small": -0.25,
                           "on_site": True, "closed": False, "a": None, "b": None, "c": None,
                           "name": "Dr Amal Bennani"}
    assert type(result.data["count"]) is int and type(result.data["ratio"]) is float


def test_empty_file_gives_no_data_and_no_problem():
    assert load_yaml_text("", "k.yaml") == LoadedYaml(None, {}, [])
    assert load_yaml_text("# just a comment\n", "k.yaml").data is None


# --- traps ------------------------------------------------------------------------------

def test_unquoted_time_is_an_error_and_kept_as_text():
    result = load("""\
        talks:
          - title: Opening
            start: 9:30
        """)
    problem = only_error(result)
    assert (problem.line, problem.column, problem.field) == (3, 12, "talks[0].start")
    assert 'write "9:30"' in problem.message and "quotes" in problem.message
    assert "570" in problem.message
    assert result.data == {"talks": [{"title": "Opening", "start": "9:30"}]}


def test_quoted_time_is_fine():
    result = load('start: "9:30"\nend: \'10:45\'\n')
    assert result.problems == []
    assert result.data == {"start": "9:30", "end": "10:45"}


@pytest.mark.parametrize("word, meaning", [("yes", "true"), ("No", "false"), ("ON", "true"),
                                           ("off", "false"), ("y", "true"), ("n", "false")])
def test_yes_no_on_off_are_errors(word, meaning):
    result = load(f"answer: {word}\n")
    problem = only_error(result)
    assert (problem.line, problem.column, problem.field) == (1, 9, "answer")
    assert f'write "{word}"' in problem.message and meaning in problem.message
    assert result.data == {"answer": word}


def test_leading_zero_is_an_error():
    result = load("phone: 0612\n")
    problem = only_error(result)
    assert (problem.line, problem.column, problem.field) == (1, 8, "phone")
    assert "leading zero" in problem.message and 'write "0612"' in problem.message
    assert result.data == {"phone": "0612"}


def test_leading_plus_is_an_error():
    result = load("doctors:\n  - telecom:\n      - value: +212612345678\n")
    problem = only_error(result)
    assert (problem.line, problem.column) == (3, 16)
    assert problem.field == "doctors[0].telecom[0].value"
    assert "plus sign" in problem.message
    assert result.data["doctors"][0]["telecom"][0]["value"] == "+212612345678"


@pytest.mark.parametrize("text, what", [("2026-03-10", "a date"),
                                        ("2026-03-10 09:00", "a date and time"),
                                        ("2026-03-10T09:00:00+01:00", "a date and time")])
def test_unquoted_date_is_an_error(text, what):
    result = load(f"day: {text}\n")
    problem = only_error(result)
    assert (problem.line, problem.column, problem.field) == (1, 6, "day")
    assert f"as {what} instead of text" in problem.message
    assert result.data == {"day": text}


def test_quoted_date_is_fine():
    result = load('day: "2026-03-10"\n')
    assert result.problems == [] and result.data == {"day": "2026-03-10"}


@pytest.mark.parametrize("text", ["0x1F", "0o17", "0b101", "1_000", ".inf", ".nan", "1:30:00", "09:30"])
def test_other_number_traps(text):
    result = load(f"v: {text}\n")
    assert 'must be in quotes' in only_error(result).message
    assert result.data == {"v": text}


def test_two_traps_give_two_problems():
    result = load("start: 9:30\nopen: yes\n")
    assert [(p.line, p.field) for p in errors(result)] == [(1, "start"), (2, "open")]
    assert result.data == {"start": "9:30", "open": "yes"}


# --- keys -------------------------------------------------------------------------------

def test_duplicate_key_names_both_lines():
    result = load("""\
        talks:
          - title: Opening
            speaker: A
            room: Hall 1
            speaker: B
        """)
    problem = only_error(result)
    assert (problem.line, problem.column, problem.field) == (5, 5, "talks[0].speaker")
    assert '"speaker" appears twice' in problem.message and "first on line 3" in problem.message


@pytest.mark.parametrize("key", ["1", "yes"])
def test_non_string_key_must_be_quoted(key):
    result = load(f"{key}: value\n")
    problem = only_error(result)
    assert (problem.line, problem.column) == (1, 1)
    assert f'write "{key}":' in problem.message
    assert result.data == {key: "value"}


# --- safety -----------------------------------------------------------------------------

def test_python_tag_is_rejected_and_never_executed(tmp_path):
    marker = tmp_path / "ran"
    result = load(f'cmd: !!python/object/apply:os.system ["touch {marker}"]\n')
    problem = only_error(result)
    assert (problem.line, problem.column, problem.field) == (1, 6, "cmd")
    assert "!!python/object/apply:os.system" in problem.message and "not allowed" in problem.message
    assert result.data == {"cmd": None}
    assert not marker.exists()


def test_custom_tag_is_rejected_but_str_tag_allowed():
    result = load("a: !foo bar\nb: !!str 9:30\n")
    assert [(p.line, p.field) for p in errors(result)] == [(1, "a")]
    assert result.data == {"a": None, "b": "9:30"}


def test_anchors_and_aliases_are_rejected():
    result = load("""\
        base: &b
          room: Hall 1
        copy: *b
        """)
    found = errors(result)
    assert [(p.line, p.column, p.field) for p in found] == [(1, 7, "base"), (3, 7, "copy")]
    assert all("anchors and aliases" in p.message for p in found)
    assert result.data == {"base": {"room": "Hall 1"}, "copy": None}


def test_billion_laughs_is_cheap_and_rejected():
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 9) + "]" for i in range(1, 10)]
    result = load_yaml_text("\n".join(lines) + "\n", "k.yaml")
    assert len(errors(result)) > 9 and result.data["a9"] == [None] * 9


# --- layout and syntax ------------------------------------------------------------------

def test_tab_indentation_is_reported_on_each_line():
    result = load_yaml_text("doctor:\n\tname: A\n  \tcity: Rabat\n", "k.yaml")
    found = errors(result)
    assert [(p.line, p.column) for p in found] == [(2, 1), (3, 3)]
    assert all("tab" in p.message and "spaces" in p.message for p in found)


def test_syntax_error_bad_indentation_has_position():
    result = load("""\
        doctor:
          name: A
         city: Rabat
        """)
    problem = only_error(result)
    assert (problem.line, problem.column) == (3, 2)
    assert "indentation" in problem.message and "expected <block end>" in problem.message
    assert result.data is None


def test_colon_inside_value_hint():
    problem = only_error(load("title: Session: opening\n"))
    assert (problem.line, problem.column) == (1, 15)
    assert "colon inside a value" in problem.message


def test_two_documents_are_an_error():
    result = load("a: 1\n---\nb: 2\n")
    problem = only_error(result)
    assert problem.line == 2 and "only one YAML document" in problem.message


def test_control_character_is_reported_with_position():
    problem = only_error(load_yaml_text("a: ok\nb: bad\x07text\n", "k.yaml"))
    assert (problem.line, problem.column) == (2, 7) and "U+0007" in problem.message


def test_too_large_text():
    result = load_yaml_text("a: " + "x" * 2_000_001, "k.yaml")
    assert result.data is None and "too large" in only_error(result).message


# --- positions --------------------------------------------------------------------------

def test_positions_of_nested_values_and_keys():
    result = load("""\
        doctors:
          - name: Dr A
            telecom:
              - system: phone
                value: "0612345678"
        """)
    assert result.problems == []
    pos = result.positions
    assert pos[()] == (1, 1)
    assert pos[("doctors",)] == (2, 3)
    assert pos[("doctors", 0)] == (2, 5)
    assert pos[("doctors", 0, "telecom", 0)] == (4, 9)
    assert pos[("doctors", 0, "telecom", 0, "value")] == (5, 16)
    assert pos[("doctors", 0, "telecom", 0, "value", "__key__")] == (5, 9)


# --- files and encodings ----------------------------------------------------------------

def test_file_not_utf8_reports_bad_byte(tmp_path):
    path = tmp_path / "doctors.yaml"
    path.write_bytes("a: 1\nb: 2\nc: 3\nname: Caf\xe9\n".encode("latin-1"))
    result = load_yaml_file(path)
    problem = only_error(result)
    assert (problem.file, problem.line, problem.column) == (str(path), 4, 10)
    assert "0xE9" in problem.message and "UTF-8" in problem.message
    assert result.data is None


def test_file_with_utf8_bom_warns_and_loads(tmp_path):
    path = tmp_path / "k.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: Caf\xc3\xa9\nstart: \"9:30\"\n")
    result = load_yaml_file(path)
    assert result.data == {"name": "Café", "start": "9:30"}
    assert [(p.severity, p.line) for p in result.problems] == [("warning", 1)]
    assert "BOM" in result.problems[0].message
    assert result.positions[("start",)] == (2, 8)  # the invisible BOM does not shift columns


def test_file_in_utf16_is_rejected(tmp_path):
    path = tmp_path / "k.yaml"
    path.write_bytes("a: 1\n".encode("utf-16"))
    result = load_yaml_file(path)
    assert result.data is None and "UTF-16" in only_error(result).message


def test_missing_file_is_a_problem_not_an_exception(tmp_path):
    result = load_yaml_file(tmp_path / "nope.yaml")
    assert result.data is None and errors(result)


# --- robustness -------------------------------------------------------------------------

yamlish = st.lists(st.sampled_from(["a", "b:", ": ", "- ", "\n", "  ", "\t", "9:30", "yes", "'", '"',
                                    "[", "]", "{", "}", ",", "&x ", "*x", "!!str ", "!t ", "---\n",
                                    "? ", "|", ">", "#", "0612", "%YAML 1.1\n", "\ufeff"])).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(st.characters(blacklist_categories=("Cs",))), yamlish))
def test_never_raises(text):
    result = load_yaml_text(text, "k.yaml")
    assert isinstance(result, LoadedYaml)
    assert all(p.file == "k.yaml" and (p.line is None or p.line >= 1) for p in result.problems)


# -- the parse cache of large files ---------------------------------------------------------
def _large_file(tmp_path, entries: int = 4000, extra: str = ""):
    """A directory-like file larger than CACHE_MIN_BYTES."""
    body = "".join(f'  - id: person-{i}\n    name: "Person Number {i}"\n    aliases: [p{i}]\n'
                   for i in range(entries))
    path = tmp_path / "directory-01.yaml"
    path.write_text("people:\n" + body + extra, encoding="utf-8")
    assert path.stat().st_size >= CACHE_MIN_BYTES
    return path


def test_a_large_file_read_again_gives_the_same_data_and_positions(tmp_path):
    path = _large_file(tmp_path)
    first = load_yaml_file(path)
    assert first.problems == [] and len(list((tmp_path / "parse-cache").iterdir())) == 1
    again = load_yaml_file(path)
    assert again.data == first.data and again.positions == first.positions
    assert again.positions[("people", 3999, "name")] == (12000, 11)


def test_a_changed_file_is_read_anew(tmp_path):
    path = _large_file(tmp_path)
    load_yaml_file(path)
    path.write_text(path.read_text(encoding="utf-8").replace("Number 7\"", "Seven\""),
                    encoding="utf-8")
    assert load_yaml_file(path).data["people"][7]["name"] == "Person Seven"


def test_a_file_with_a_problem_is_not_remembered(tmp_path):
    path = _large_file(tmp_path, extra="opens: 9:30\n")
    assert "9:30" in errors(load_yaml_file(path))[0].message
    assert not list((tmp_path / "parse-cache").iterdir())
    assert "9:30" in errors(load_yaml_file(path))[0].message


def test_a_damaged_cache_entry_is_read_past(tmp_path):
    path = _large_file(tmp_path)
    expected = load_yaml_file(path).data
    for cached in (tmp_path / "parse-cache").iterdir():
        cached.write_bytes(b"not marshal data")
    assert load_yaml_file(path).data == expected


def test_a_cache_folder_others_can_write_is_not_used(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("FORUMBOT_CACHE_DIR", str(shared))
    assert cache_dir() is None
    load_yaml_file(_large_file(tmp_path))
    assert not list(shared.iterdir())
    monkeypatch.setenv("FORUMBOT_CACHE_DIR", "")
    assert cache_dir() is None
