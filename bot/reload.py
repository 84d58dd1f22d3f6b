"""The knowledge version being served, and how a new one replaces it without downtime.

A new version is validated completely and its Assistant (with its match index) is built in
a worker thread, within a time limit, before it replaces the old one in one assignment:
every message is answered by the Assistant a handler read once at its start, so wholly by
the old or wholly by the new knowledge, never by a half-loaded one. A version that fails
validation (or a reload that takes too long) is not loaded; the last good one keeps
answering and the problems are returned for the admins.
"""
from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from bot.admin import testrun
from bot.admin.testrun import Outcome
from bot.core.engine import Assistant
from bot.knowledge.loader import check_knowledge
from bot.knowledge.problems import KnowledgeError, Problem

log = logging.getLogger(__name__)

RELOAD_TIME_LIMIT = 60.0  # seconds; a normal reload takes about a second


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
    answer of the version serving before (a version failing them is refused unless forced);
    ``busy`` when it was refused at once because another reload was running.
    """

    ok: bool
    serving: Version
    problems: list[Problem] = field(default_factory=list)
    changed: bool = False
    tests: list[Outcome] = field(default_factory=list)
    busy: bool = False  # refused because another reload was running


def git_commit(directory: Path) -> str | None:
    """Return the short commit of the git checkout holding ``directory``, or None."""
    try:
        out = subprocess.run(["git", "-C", str(directory), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@dataclass
class _Attempt:
    """One running reload: its future result, trigger and time-limit timer."""

    future: Future[ReloadResult]
    trigger: str
    timer: threading.Timer | None = None


class KnowledgeHolder:
    """Holds the Assistant currently serving and replaces it on reload.

    Args:
        directory: the knowledge folder.
        on_loaded: called as ``on_loaded(version, ok, errors)`` after each attempt (to record
            it); its failures are logged, never raised.
        clock: returns the current time, UTC (replaceable in tests).
        check_tests: refuse a new version whose test questions (tests.yaml) fail
            (setting RELOAD_CHECK_TESTS); ``reload(force=True)`` loads it anyway.
        time_limit: seconds after which a reload is abandoned (the old version serves).
    Raises:
        KnowledgeError: at construction, when the folder has errors (nothing to serve yet).
    """

    def __init__(self, directory: str | Path, *, trigger: str = "startup",
                 on_loaded: Callable[[Version, bool, int], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 check_tests: bool = True, time_limit: float = RELOAD_TIME_LIMIT):
        self.directory: Path | None = Path(directory)
        self.check_tests = check_tests
        self.time_limit = time_limit
        self._on_loaded = on_loaded
        self._clock = clock
        self._state = threading.Lock()  # guards _attempt and the swap; held for instants
        self._attempt: _Attempt | None = None  # the reload running now
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
        holder.time_limit = RELOAD_TIME_LIMIT
        holder._clock = lambda: datetime.now(UTC)
        holder._state = threading.Lock()
        holder._attempt = None
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

        Blocks until the reload ends, at most ``time_limit`` seconds (see
        :meth:`start_reload`); readers of :attr:`assistant` never wait meanwhile.

        Args:
            trigger: what asked for it (recorded with the version).
            force: load a valid version even when test questions fail (``/reload force``:
                the admin changed those answers on purpose).
        Returns:
            a :class:`ReloadResult`; never raises for bad knowledge (the old version stays).
        """
        return self.start_reload(trigger, force=force).result()

    def start_reload(self, trigger: str, *, force: bool = False) -> Future[ReloadResult]:
        """Start a reload in a worker thread and return its future result at once.

        One reload runs at a time: while one runs, another is refused at once (not queued).
        A reload still running after ``time_limit`` seconds is abandoned: its future gets a
        failed result (the last good version keeps serving), the attempt is recorded as
        failed, and whatever the stuck thread finds later is thrown away. No lock is held
        that a message handler waits on.
        """
        future: Future[ReloadResult] = Future()
        if self.directory is None:
            future.set_result(ReloadResult(False, self._version, [Problem(
                "-", message="this bot was started without a knowledge folder to reload")]))
            return future
        with self._state:
            if self._attempt is not None:
                future.set_result(ReloadResult(False, self._version, [Problem(
                    str(self.directory), message="another reload is still running; try "
                    "again when it has finished")], busy=True))
                return future
            attempt = self._attempt = _Attempt(future, trigger)
        timer = threading.Timer(self.time_limit, self._abandon, args=(attempt,))
        timer.daemon = True
        attempt.timer = timer
        threading.Thread(target=self._run, args=(attempt, force), name="knowledge-reload",
                         daemon=True).start()
        timer.start()
        return future

    def _run(self, attempt: _Attempt, force: bool) -> None:
        try:
            result = self._load(attempt, force)
        except Exception as exc:  # noqa: BLE001 - a reload never stops serving
            log.exception("knowledge reload (%s) failed", attempt.trigger)
            result = ReloadResult(False, self._version, [Problem(
                "-", message=f"the reload failed ({type(exc).__name__}); see the log")])
        with self._state:
            if self._attempt is not attempt:
                return  # abandoned: the future has its answer already
            self._attempt = None
        if attempt.timer is not None:
            attempt.timer.cancel()
        attempt.future.set_result(result)

    def _abandon(self, attempt: _Attempt) -> None:
        """The time limit passed: answer the attempt's future, record it as failed."""
        with self._state:
            if self._attempt is not attempt:
                return
            self._attempt = None
        log.warning("knowledge reload (%s) abandoned after %g s; still serving %s",
                    attempt.trigger, self.time_limit, self._version.version)
        self._notify(self._identify("timed out", attempt.trigger), False, 1)
        attempt.future.set_result(ReloadResult(False, self._version, [Problem(
            str(self.directory), message=f"the reload took longer than {self.time_limit:g} s "
            f"and was abandoned; still serving {self._version.version}. Is a file of the "
            "folder on a slow or unreachable disk?")]))

    def _current(self, attempt: _Attempt) -> bool:
        with self._state:
            return self._attempt is attempt

    def _load(self, attempt: _Attempt, force: bool) -> ReloadResult:
        """Check the folder and swap in a good new version, unless ``attempt`` was
        abandoned meanwhile (then nothing is recorded or swapped)."""
        assert self.directory is not None  # start_reload answers first when there is none
        trigger = attempt.trigger
        built: list[Assistant] = []  # the Assistant built for the warnings, reused

        def keep(assistant: Assistant) -> list[Problem]:
            built.append(assistant)
            return []

        knowledge, problems = check_knowledge(self.directory, checks=keep)
        errors = [p for p in problems if p.severity == "error"]
        if knowledge is None:
            if self._current(attempt):
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
            if self._current(attempt):
                refused = self._identify(knowledge.version, trigger)
                log.warning("knowledge reload (%s) refused: %d test question(s) fail; still "
                            "serving %s", trigger, len(failing), self._version.version)
                self._notify(refused, False, len(failed))
            return ReloadResult(False, self._version, failed + problems, tests=failing)
        version = self._identify(knowledge.version, trigger)
        with self._state:
            if self._attempt is not attempt:  # too late: the admins were told it failed
                return ReloadResult(False, self._version, problems)
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
