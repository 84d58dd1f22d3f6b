"""The normaliser: examples per rule, and properties that hold for any text."""
from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.normalize import is_han, normalize, tokenize


def test_case_accents_and_punctuation():
    assert normalize("Hémorragie du Post-Partum !") == "hemorragie du post partum"


def test_full_width_forms():
    assert normalize("ＣＡＩ　ＢＩＮ？") == "cai bin"


def test_possessive_and_french_elision():
    assert tokenize("Qin Jing's role") == ["qin", "jing", "role"]
    assert tokenize("l'anesthésie et d'hémorragie") == ["anesthesie", "et", "hemorragie"]
    assert tokenize("can't breathe") == ["cant", "breathe"]


def test_arabic_letter_variants_tatweel_diacritics_and_article():
    assert tokenize("مـرحـبـاً") == ["مرحبا"]
    assert tokenize("أإآ") == tokenize("ااا")
    assert tokenize("القابلة") == tokenize("قابله")
    assert tokenize("مستشفى") == ["مستشفي"]
    assert tokenize("٣٥") == ["35"]


def test_chinese_is_one_unit_per_character_without_spaces():
    assert tokenize("谁讲了产后出血？") == ["谁", "讲", "了", "产", "后", "出", "血"]
    assert tokenize("Cai Bin讲了") == ["cai", "bin", "讲", "了"]


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@given(texts)
@settings(max_examples=300, deadline=None)
def test_normalize_is_idempotent(text):
    once = normalize(text)
    assert normalize(once) == once


@given(texts)
@settings(max_examples=300, deadline=None)
def test_normalized_text_has_no_marks_upper_case_or_edge_spaces(text):
    out = normalize(text)
    assert out == out.strip() and "  " not in out
    assert not any(unicodedata.category(ch).startswith("M") for ch in out)
    assert out == out.casefold() or not out.isascii()


@given(texts)
@settings(max_examples=300, deadline=None)
def test_tokens_are_non_empty_and_han_stands_alone(text):
    for unit in tokenize(text):
        assert unit and " " not in unit
        if any(is_han(ch) for ch in unit):
            assert len(unit) == 1


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèàçô ", max_size=60))
@settings(max_examples=200, deadline=None)
def test_case_and_accents_never_change_the_tokens_of_latin_text(text):
    assert tokenize(text.upper()) == tokenize(text)
    stripped = "".join(ch for ch in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(ch))
    assert tokenize(stripped) == tokenize(text)
