"""The question log shows admins the words of unanswered questions, never the phone numbers,
e-mail addresses, handles or long numbers users typed into them."""
from __future__ import annotations

import re

import pytest

from bot.service.reports import unanswered_text
from bot.storage import QuestionLog, create_engine_for, migrate

# (what a user typed, the words an admin must still see, what must not be stored)
TYPED = [
    ("call me on +212 6 12 34 56 78 about parking", ["call", "parking"], "612"),
    ("mon numéro 06.61.23.45.67 pour le docteur Cai", ["numero", "docteur", "cai"], "6123"),
    ("write to ann.smith+forum@example.co.uk please", ["write", "please"], "smith"),
    ("mail: ali @ gmail . com sessions", ["sessions"], "gmail"),
    ("我的电话是13800138000 蔡斌医生", ["蔡斌医生"], "138"),
    ("رقمي ٠٦١٢٣٤٥٦٧٨ طبيب النساء", ["طبيب"], "612"),
    ("full-width １３８ ００１３ ８０００ midwife", ["midwife"], "8000"),
    ("my file 310101199001011234 Refki Ilham", ["refki", "ilham"], "1990"),
    ("tel (021) 6387-0000 obstetrician", ["obstetrician"], "6387"),
    ("ask @ann_smith about anesthesia", ["ask", "anesthesia"], "ann"),
]


@pytest.fixture
def log(tmp_path):
    engine = create_engine_for(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    migrate(engine)
    yield QuestionLog(engine)
    engine.dispose()


@pytest.mark.parametrize("typed,words,secret", TYPED)
def test_contact_details_are_masked_and_words_kept(log, typed, words, secret):
    log.record(question=typed, intent="fallback", lang="en", answered=False, closest=None)
    [row] = log.unanswered()
    for word in words:
        assert word in row.question, row.question
    assert secret not in row.question.replace(" ", "")
    assert not re.search(r"\d(?:\D{0,3}\d){4}", row.question), row.question
    assert "@" not in row.question
    shown = unanswered_text([row])  # what /unanswered sends an admin
    assert secret not in shown.replace(" ", "") and words[0] in shown


def test_years_times_and_short_numbers_stay(log):
    log.record(question="talk 3 of the 2023 forum at 9:30", intent="fallback", lang="en",
               answered=False, closest=None)
    assert log.unanswered()[0].question == "talk 3 of the 2023 forum at 9 30"


def test_a_question_that_is_only_a_phone_number_is_not_kept(log):
    log.record(question="+212 612 345 678", intent="fallback", lang="en", answered=False,
               closest=None)
    assert log.unanswered() == []
    assert log.stats(*[log._now().date()] * 2).total == 1  # still counted
