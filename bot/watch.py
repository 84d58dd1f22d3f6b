"""Watching the knowledge folder by its path, for live reloads.

watchfiles (inotify on Linux) follows the folder's inode: after a deploy that replaces the
folder (``mv kb kb.old; mv kb.new kb``, or a symlink switched to a new release) it would
keep watching the old one, renamed, and never see a later edit. :func:`watch_path` checks
what the path names after each batch of changes and at least every ``check_ms``, and when
it names another folder (or one again after a gap) it watches that one instead.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from watchfiles import awatch

FILE_CHANGE = "file change"
FOLDER_REPLACED = "folder replaced"


def identity(path: Path) -> tuple[int, int] | None:
    """Return (device, inode) of what ``path`` names now (symlinks followed), or None when
    nothing is there."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


async def watch_path(path: Path, *, debounce_ms: int = 400, step_ms: int = 50,
                     check_ms: int = 1000) -> AsyncIterator[str]:
    """Yield FILE_CHANGE after each (debounced) batch of changes in the folder at ``path``,
    and FOLDER_REPLACED when ``path`` has come to name another folder; runs until the
    consumer stops iterating (or its task is cancelled).

    Args:
        path: the folder; it may be missing for a while (between the two moves of a swap).
        debounce_ms, step_ms: watchfiles' grouping of changes, milliseconds.
        check_ms: how often, at most, the path is checked for a replacement, milliseconds.
    """
    watched = identity(path)
    while True:
        if watched is None:  # nothing at the path (yet): look again shortly
            await asyncio.sleep(check_ms / 1000)
            watched = identity(path)
            if watched is not None:
                yield FOLDER_REPLACED
            continue
        replaced = False
        try:
            async for changes in awatch(path, debounce=debounce_ms, step=step_ms,
                                        rust_timeout=check_ms, yield_on_timeout=True,
                                        recursive=False):
                if identity(path) != watched:
                    replaced = True
                    break
                if changes:
                    yield FILE_CHANGE
        except FileNotFoundError:  # moved away between the check and the watch's start
            replaced = True
        now = identity(path)
        if replaced or now != watched:
            watched = now
            if now is not None:
                yield FOLDER_REPLACED
