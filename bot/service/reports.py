"""Admin reports as plain text, the same on every channel (and in ``forumbot report``)."""
from __future__ import annotations

from collections.abc import Sequence

from bot.admin import testrun
from bot.admin.testrun import Outcome
from bot.reload import ReloadResult, Version
from bot.storage import ReplyStats, UnansweredQuestion

MAX_PROBLEMS_SHOWN = 15


def describe(result: ReloadResult) -> str:
    """Return the admin's report of a reload: what serves now, and every problem found
    (the first MAX_PROBLEMS_SHOWN)."""
    v = result.serving
    serving = f"version {v.version}" + (f" (git {v.git_commit})" if v.git_commit else "")
    if result.ok:
        head = (f"Knowledge reloaded: now serving {serving}." if result.changed else
                f"Knowledge unchanged: serving {serving}.")
    elif result.tests:
        head = (f"Knowledge update REJECTED: {len(result.tests)} test question(s) of tests.yaml "
                f"would get another answer. Still answering from the last good {serving}. If "
                "the change is deliberate, update tests.yaml or send /reload force.")
    else:
        errors = [p for p in result.problems if p.severity == "error"]
        head = (f"Knowledge update REJECTED: {len(errors)} error(s). Still answering from the "
                f"last good {serving}.")
    if result.tests:
        return "\n".join([head, *changed_answers(result.tests)])
    lines = [head] + [str(p) for p in result.problems[:MAX_PROBLEMS_SHOWN]]
    if len(result.problems) > MAX_PROBLEMS_SHOWN:
        lines.append(f"... and {len(result.problems) - MAX_PROBLEMS_SHOWN} more "
                     "(run forumbot check for the full list)")
    return "\n".join(lines)


def changed_answers(failing: list[Outcome]) -> list[str]:
    """The test questions a new version answers differently: question, expected, the
    answer of the version serving before and of the new one (at most MAX_PROBLEMS_SHOWN)."""
    lines = []
    for o in failing[:MAX_PROBLEMS_SHOWN]:
        lines.append(f"- {o.question.q!r} expects {o.expected()}")
        if o.before is not None:
            lines.append(f"  before: {testrun.describe(o.before)}")
        lines.append(f"  new:    {testrun.describe(o.reply)}")
    if len(failing) > MAX_PROBLEMS_SHOWN:
        lines.append(f"... and {len(failing) - MAX_PROBLEMS_SHOWN} more (run forumbot test)")
    return lines


def version_text(v: Version) -> str:
    """Return the /version report: the version serving, its git commit, when (UTC) and why
    it was loaded."""
    return (f"Knowledge version {v.version}" + (f", git {v.git_commit}" if v.git_commit else "")
            + f", loaded {v.loaded_at:%Y-%m-%d %H:%M} UTC ({v.trigger}).")


def unanswered_text(rows: Sequence[UnansweredQuestion]) -> str:
    """Return the to-do list of unanswered questions ("3x  <question>  -> closest: key")."""
    if not rows:
        return "No unanswered questions recorded."
    lines = [f"Most frequent unanswered questions ({len(rows)}):"]
    lines += [f"{r.count}x  {r.question}" + (f"  -> closest: {r.closest}" if r.closest else "")
              for r in rows]
    return "\n".join(lines)


def stats_text(stats: ReplyStats, days: int) -> str:
    """Return the /stats report: the total, then counts per intent and per language."""
    def block(counts: dict[str, int]) -> str:
        return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return (f"Last {days} day(s): {stats.total} answer(s).\n"
            f"By intent: {block(stats.by_intent) or '-'}\n"
            f"By language: {block(stats.by_language) or '-'}")


__all__ = ["changed_answers", "describe", "stats_text", "unanswered_text", "version_text"]
