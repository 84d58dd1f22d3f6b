"""What triggers a knowledge reload while a channel runs: a change in the knowledge folder
(watchfiles) and SIGHUP. Both end in :meth:`AssistantService.reload`, run in a worker thread
so the channel keeps answering meanwhile; ``on_result`` is how the channel tells its admins.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.reload import ReloadResult
from bot.watch import watch_path

if TYPE_CHECKING:
    from .assistant import AssistantService

log = logging.getLogger(__name__)

OnResult = Callable[[ReloadResult, str], Awaitable[None]]
BUSY_RETRY = 0.5  # seconds between tries while another reload runs


async def reload_in_thread(service: AssistantService, trigger: str,
                           on_result: OnResult | None = None, *,
                           force: bool = False, after_running: bool = False) -> ReloadResult:
    """Reload in a worker thread; then ``await on_result(result, report_text)``.

    With ``after_running`` (a file change, SIGHUP) a reload refused because another one
    runs is tried again once that one has ended, so a change made meanwhile is not missed;
    otherwise (an admin's /reload) the refusal is the result."""
    reload = functools.partial(service.reload, trigger, force=force)
    result = await asyncio.to_thread(reload)
    while after_running and result.busy:
        await asyncio.sleep(BUSY_RETRY)
        result = await asyncio.to_thread(reload)
    if on_result is not None:
        try:
            await on_result(result, service.reload_report(result))
        except Exception:  # noqa: BLE001 - telling admins must not stop the watcher
            log.exception("could not report a knowledge reload")
    return result


class Reloaders:
    """The folder watcher and the SIGHUP handler of one running channel.

    Args:
        service: the service whose knowledge is reloaded.
        on_result: awaited after each reload with the result and its admin report.
    """

    def __init__(self, service: AssistantService, on_result: OnResult | None = None) -> None:
        self.service = service
        self.on_result = on_result
        self._watcher: asyncio.Task[None] | None = None
        self._sighup = False

    async def _watch(self) -> None:
        directory = self.service.holder.directory
        if directory is None:
            return
        # the path is followed, not the inode: a deploy replacing the folder is seen too
        async for reason in watch_path(directory):
            await reload_in_thread(self.service, reason, self.on_result, after_running=True)

    def start(self, watch: bool) -> None:
        """Start the folder watcher (when ``watch`` and there is a folder) and the SIGHUP
        handler (where the platform has it, in the main thread); call on the running loop."""
        loop = asyncio.get_running_loop()
        if watch and self.service.holder.directory is not None and self._watcher is None:
            self._watcher = loop.create_task(self._watch())
        if hasattr(signal, "SIGHUP"):
            try:
                loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(
                    reload_in_thread(self.service, "SIGHUP", self.on_result,
                                     after_running=True)))
                self._sighup = True
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass

    async def stop(self) -> None:
        """Stop the watcher and remove the SIGHUP handler."""
        if self._sighup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._sighup = False
        task, self._watcher = self._watcher, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


__all__ = ["Reloaders", "reload_in_thread"]
