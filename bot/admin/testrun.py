"""Run the admins' test questions (``tests.yaml``) against one knowledge version.

Used by ``forumbot test`` (every failure with the alias and score that decided it),
``forumbot check`` (failures are errors) and the reload guard (a version whose questions
fail is not loaded; the admins see the old and the new answer of each).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import process

from bot.core.engine import Assistant
from bot.core.types import Message, Reply
from bot.knowledge.models import Doctor
from bot.knowledge.problems import Problem
from bot.knowledge.tests import LoadedTests, TestQuestion, load_tests


@dataclass(frozen=True)
class Outcome:
    """One test question asked to one knowledge version.

    Attributes:
        question: the test question; line: its line in tests.yaml (1-based) or None.
        reply: what the version answered.
        reasons: why it fails (empty when it passes), e.g. "intent is session, not emergency".
        before: what the version serving before answered (reload guard only), or None.
    """

    question: TestQuestion
    line: int | None
    reply: Reply
    reasons: tuple[str, ...]
    before: Reply | None = None

    @property
    def ok(self) -> bool:
        """True when the reply shows everything the question expects."""
        return not self.reasons

    def expected(self) -> str:
        """What the question expects, as one line: "person:cai-bin, intent emergency"."""
        parts = list(self.question.keys)
        if self.question.intent:
            parts.append(f"intent {self.question.intent}")
        if self.question.lang:
            parts.append(f"in {self.question.lang}")
        return ", ".join(parts)

    def as_dict(self) -> dict:
        """JSON shape of ``forumbot test --format json``: question, line, expected
        (expect, intent, lang), got (intent, ids, lang, confidence), reasons, alias, score,
        decided_by (the entry key of the deciding alias), and before when known."""
        alias, score, key = deciding(self.reply)
        out = {"question": self.question.q, "line": self.line, "ok": self.ok,
               "expected": {"expect": list(self.question.keys), "intent": self.question.intent,
                            "lang": self.question.lang},
               "got": got(self.reply), "reasons": list(self.reasons),
               "alias": alias, "score": score, "decided_by": key}
        if self.before is not None:
            out["before"] = got(self.before)
        return out


def got(reply: Reply) -> dict:
    """The comparable part of a reply: intent, ids, lang and confidence."""
    return {"intent": reply.intent, "ids": list(reply.ids), "lang": reply.lang,
            "confidence": reply.confidence}


def deciding(reply: Reply) -> tuple[str | None, float | None, str | None]:
    """Return (alias, score, entry key) of the match that decided ``reply``: the best
    candidate among the entries it names, else its best candidate; Nones when the reply
    came from no match (an emergency rule, a command, small talk)."""
    if not reply.candidates:
        return None, None, None
    named = [c for c in reply.candidates if c.key in reply.ids]
    best = (named or list(reply.candidates))[0]
    return best.alias, round(best.score, 3), best.key


def describe(reply: Reply) -> str:
    """One line for a reply: intent, the entries it names (at most 4) and its confidence."""
    ids = ", ".join(reply.ids[:4]) + (f" (+{len(reply.ids) - 4})" if len(reply.ids) > 4 else "")
    return f"{reply.intent} {ids or '(no entry)'} [confidence {reply.confidence:.2f}, {reply.lang}]"


def check_reply(question: TestQuestion, reply: Reply) -> tuple[str, ...]:
    """Return why ``reply`` fails ``question`` (empty when it passes)."""
    reasons = []
    missing = [key for key in question.keys if key not in reply.ids]
    if missing:
        reasons.append(f"the answer does not name {', '.join(missing)}")
    if question.intent and reply.intent != question.intent:
        reasons.append(f"intent is {reply.intent}, not {question.intent}")
    if question.lang and reply.lang != question.lang:
        reasons.append(f"answered in {reply.lang}, not {question.lang}")
    return tuple(reasons)


def run(assistant: Assistant, tests: LoadedTests, before: Assistant | None = None
        ) -> list[Outcome]:
    """Ask every question of ``tests`` to ``assistant`` (and to ``before`` when given).

    Returns:
        one :class:`Outcome` per question, in file order.
    """
    out = []
    for question, line in tests.questions:
        reply = assistant.reply(Message(question.q))
        old = before.reply(Message(question.q)) if before is not None else None
        out.append(Outcome(question, line, reply, check_reply(question, reply), old))
    return out


def unknown_entries(assistant: Assistant, tests: LoadedTests) -> list[Problem]:
    """Errors for expected entry keys this knowledge does not have (a renamed id, a typo)."""
    known = assistant.k.entries
    problems = []
    for question, line in tests.questions:
        for key in question.keys:
            if key in known:
                continue
            guess = process.extractOne(key, list(known), score_cutoff=80)
            hint = f" (did you mean `{guess[0]}`?)" if guess else ""
            problems.append(Problem(str(tests.file), line, None, "expect",
                                    f"`{key}` is not an entry of this knowledge{hint}: "
                                    f"question {question.q!r}"))
    return problems


def failure_problems(tests: LoadedTests, outcomes: list[Outcome]) -> list[Problem]:
    """Each failing question as an error Problem at its line of tests.yaml (for check)."""
    problems = []
    for o in outcomes:
        if o.ok:
            continue
        alias, score, key = deciding(o.reply)
        why = f"; decided by {key} through {alias!r} (score {score})" if alias else ""
        problems.append(Problem(str(tests.file), o.line, None, "tests",
                                f"test question {o.question.q!r} expects {o.expected()}, got "
                                f"{describe(o.reply)}{why}"))
    return problems


def check_folder(directory: str | Path, assistant: Assistant) -> list[Problem]:
    """Every problem of the folder's tests.yaml for ``forumbot check``: file errors,
    expected entries that do not exist, and failing questions (all errors)."""
    tests = load_tests(directory)
    outcomes = run(assistant, tests)
    return [*tests.problems, *unknown_entries(assistant, tests), *failure_problems(tests, outcomes)]


def uncovered(assistant: Assistant, tests: LoadedTests) -> list[str]:
    """Entry keys no test question expects (doctors left out: a directory is too large to
    name every listing), in knowledge order."""
    named = {key for question, _ in tests.questions for key in question.keys}
    return [key for key, entry in assistant.k.entries.items()
            if key not in named and not isinstance(entry, Doctor)]


def format_text(tests: LoadedTests, outcomes: list[Outcome], missing: list[str]) -> str:
    """The report of ``forumbot test``: every failure (question, expected, got, the
    deciding alias and score), then a summary line."""
    lines = [str(p) for p in tests.problems]
    for o in outcomes:
        if o.ok:
            continue
        alias, score, key = deciding(o.reply)
        where = f"{tests.file.name}:{o.line}" if o.line else tests.file.name
        lines += [f"FAIL {where}: {o.question.q}",
                  f"  expected: {o.expected()}",
                  f"  got:      {describe(o.reply)}",
                  f"  why:      {'; '.join(o.reasons)}"]
        if o.before is not None:
            lines.append(f"  before:   {describe(o.before)}")
        lines.append(f"  decided by: {key} through {alias!r}, score {score}" if alias else
                     "  decided by: no alias (a rule, command or small talk)")
    failed = sum(not o.ok for o in outcomes)
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        lines.append(f"note: {len(missing)} entr{'y' if len(missing) == 1 else 'ies'} named by "
                     f"no test question: {shown}")
    lines.append(f"{len(outcomes) - failed} of {len(outcomes)} test question(s) pass"
                 + (f"; {failed} fail" if failed else ""))
    return "\n".join(lines)




def guard(directory: str | Path, new: Assistant, old: Assistant | None
          ) -> tuple[list[Problem], list[Outcome]]:
    """What stops a reload: the test questions of ``directory`` asked to the ``new``
    version (and to the ``old`` one serving, to show the admins both answers).

    Returns:
        (errors, failing): errors of tests.yaml itself, expected entries the new version
        lacks and one per failing question; ``failing`` are the failing outcomes with
        their ``before`` reply. Both empty when the new version passes every question.
    """
    tests = load_tests(directory)
    failing = [o for o in run(new, tests, before=old) if not o.ok]
    errors = [p for p in (*tests.problems, *unknown_entries(new, tests)) if p.severity == "error"]
    return errors + failure_problems(tests, failing), failing


__all__ = ["Outcome", "run", "check_reply", "check_folder", "deciding", "describe",
           "failure_problems", "format_text", "got", "guard", "uncovered", "unknown_entries"]
