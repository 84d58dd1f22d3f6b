"""Questions written by testers who never saw knowledge/ (tests/eval/questions_blind*.yaml,
one set per tester), scored with the checks of the shared evaluation scorer
(tests/scoring.py): the share of cases answered right, and of those also written in the
user's language."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from scoring import check

from bot.core.types import Message

SETS = sorted((Path(__file__).resolve().parent / "eval").glob("questions_blind*.yaml"))
MATCH_MIN = 0.95      # right answer (content, intent), whatever the reply language
ANSWER_MIN = 0.95     # right answer, written in the user's language


@pytest.fixture(scope="module", params=SETS, ids=[p.stem for p in SETS])
def scored(request, assistant):
    cases = yaml.safe_load(request.param.read_text(encoding="utf-8"))
    out = []
    for case in cases:
        reply = assistant.reply(Message(case["q"].replace("\n", " "))).as_dict()
        out.append((case, reply))
    return out


def _share(scored, languages: bool) -> tuple[float, list[str]]:
    failed = [f"{case['q']!r}: {'; '.join(problems)}" for case, reply in scored
              if (problems := check(case, reply, languages))]
    return 1 - len(failed) / len(scored), failed


def test_the_set_is_large_and_covers_four_languages(scored):
    assert len(scored) >= 150
    langs = {lang for case, _ in scored
             for lang in (case["lang"] if isinstance(case["lang"], list) else [case["lang"]])}
    assert {"en", "fr", "ar", "zh"} <= langs


def test_blind_questions_are_answered_right(scored):
    share, failed = _share(scored, languages=False)
    assert share >= MATCH_MIN, f"{share:.1%} right; failing:\n" + "\n".join(failed)


def test_blind_questions_are_answered_right_in_the_users_language(scored):
    share, failed = _share(scored, languages=True)
    assert share >= ANSWER_MIN, f"{share:.1%} right; failing:\n" + "\n".join(failed)
