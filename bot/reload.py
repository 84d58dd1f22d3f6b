"""The knowledge version being served, and how a new one replaces it without downtime.

A new version is validated completely and its Assistant (with its match index) is built
before it replaces the old one, in one assignment: every message is answered by the
Assistant a handler read once at its start, so wholly by the old or wholly by the new
knowledge, never by a half-loaded one. A version that fails validation is not loaded; the
last good one keeps answering and the problems are returned for the admins.
"""
from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from bot.admin import testrun
from bot.admin.testrun import Outcome
from bot.core.engine import Assistant
from bot.knowledge.loader import check_knowledge
from bot.knowledge.problems import KnowledgeError, Problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Version:
    """Identity of a loaded knowledge version.

    Attributes:
        version: content hash of the YAML files (12 hex digits).
        git_commit: commit of the folder's git checkout (12 hex digits), or None.
        trigger: what loaded it: "startup", "file change", "SIGHUP", "/reload by admin <id>".
        loaded_at: when it was loaded, UTC.
    """

    version: str
    git_commit: str | None
    trigger: str
    loaded_at: datetime


@dataclass(frozen=True)
class ReloadResult:
    """Outcome of one reload: ``ok``; the version serving afterwards; the problems found
    (errors when not ok, warnings otherwise); ``changed`` when a new version was swapped in;
    ``tests``: the admins' test questions (tests.yaml) the new version fails, each with the
    answer of the version serving before (a version failing them is refused unless forced).
    """

    ok: bool
    serving: Version
    problems: list[Problem] = field(default_factory=list)
    changed: bool = False
    tests: list[Outcome] = field(default_factory=list)


def git_commit(directory: Path) -> str | None:
    """Return the short commit of the git checkout holding ``directory``, or None."""
    try:
        out = subprocess.run(["git", "-C", str(directory), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


class KnowledgeHolder:
    """Holds the Assistant currently serving and replaces it on reload.

    Args:
        directory: the knowledge folder.
        on_loaded: called as ``on_loaded(version, ok, errors)`` after each attempt (to record
            it); its failures are logged, never raised.
        clock: returns the current time, UTC (replaceable in tests).
        check_tests: refuse a new version whose test questions (tests.yaml) fail
            (setting RELOAD_CHECK_TESTS); ``reload(force=True)`` loads it anyway.
    Raises:
        KnowledgeError: at construction, when the folder has errors (nothing to serve yet).
    """

    def __init__(self, directory: str | Path, *, trigger: str = "startup",
                 on_loaded: Callable[[Version, bool, int], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 check_tests: bool = True):
        self.directory: Path | None = Path(directory)
        self.check_tests = check_tests
        self._on_loaded = on_loaded
        self._clock = clock
        self._lock = threading.Lock()  # one reload at a time; readers never wait
        knowledge, problems = check_knowledge(self.directory)
        if knowledge is None:
            raise KnowledgeError(problems)
        self._assistant = Assistant(knowledge)
        self._version = self._identify(knowledge.version, trigger)
        self._notify(self._version, True, 0)

    def listen(self, on_loaded: Callable[[Version, bool, int], None]) -> None:
        """Call ``on_loaded(version, ok, errors)`` after every later reload attempt."""
        self._on_loaded = on_loaded

    @classmethod
    def fixed(cls, assistant: Assistant) -> KnowledgeHolder:
        """A holder serving ``assistant`` with no folder to reload from (tests, embedding)."""
        holder = cls.__new__(cls)
        holder.directory, holder._on_loaded = None, None
        holder.check_tests = True
        holder._clock = lambda: datetime.now(UTC)
        holder._lock = threading.Lock()
        holder._assistant = assistant
        holder._version = Version(assistant.k.version, None, "fixed", holder._clock())
        return holder

    @property
    def assistant(self) -> Assistant:
        """The Assistant serving now: read it once per message and use only that one."""
        return self._assistant

    @property
    def version(self) -> Version:
        """The version serving now."""
        return self._version

    def reload(self, trigger: str, *, force: bool = False) -> ReloadResult:
        """Validate the folder again and swap in the new version when it is good: valid,
        and passing its test questions (tests.yaml) unless ``force`` or ``check_tests`` is
        off (then it is loaded and the result still lists the questions it fails).

        Args:
            trigger: what asked for it (recorded with the version).
            force: load a valid version even when test questions fail (``/reload force``:
                the admin changed those answers on purpose).
        Returns:
            a :class:`ReloadResult`; never raises for bad knowledge (the old version stays).
        """
        if self.directory is None:
            return ReloadResult(False, self._version, [Problem(
                "-", message="this bot was started without a knowledge folder to reload")])
        with self._lock:
            built: list[Assistant] = []  # the Assistant built for the warnings, reused

            def keep(assistant: Assistant) -> list[Problem]:
                built.append(assistant)
                return []

            knowledge, problems = check_knowledge(self.directory, checks=keep)
            errors = [p for p in problems if p.severity == "error"]
            if knowledge is None:
                invalid = self._identify("invalid", trigger)
                log.warning("knowledge reload (%s) rejected: %d error(s); still serving %s",
                            trigger, len(errors), self._version.version)
                self._notify(invalid, False, len(errors))
                return ReloadResult(False, self._version, problems)
            if knowledge.version == self._version.version:
                return ReloadResult(True, self._version, problems)
            assistant = built[0] if built else Assistant(knowledge)  # built before the swap
            failed, failing = testrun.guard(self.directory, assistant, self._assistant)
            if failed and self.check_tests and not force:
                refused = self._identify(knowledge.version, trigger)
                log.warning("knowledge reload (%s) refused: %d test question(s) fail; still "
                            "serving %s", trigger, len(failing), self._version.version)
                self._notify(refused, False, len(failed))
                return ReloadResult(False, self._version, failed + problems, tests=failing)
            version = self._identify(knowledge.version, trigger)
            self._assistant, self._version = assistant, version
            log.info("knowledge %s loaded (%s)", version.version, trigger)
            self._notify(version, True, 0)
            shown = [replace(p, severity="warning") for p in failed]  # loaded on purpose
            return ReloadResult(True, version, shown + problems, changed=True, tests=failing)

    def _identify(self, content: str, trigger: str) -> Version:
        assert self.directory is not None  # reload() answers first when there is no folder
        return Version(content, git_commit(self.directory), trigger, self._clock())

    def _notify(self, version: Version, ok: bool, errors: int) -> None:
        if self._on_loaded is None:
            return
        try:
            self._on_loaded(version, ok, errors)
        except Exception:  # noqa: BLE001 - recording must never stop serving
            log.exception("could not record knowledge version %s", version.version)
