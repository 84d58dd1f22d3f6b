"""The SQLite database holds chat ids and questions: its file, its -wal/-shm files and a
folder created for it are the bot's user's alone (0600/0700), whatever the umask."""
from __future__ import annotations

import json
import stat
import subprocess
import sys

# Runs in a child process: the umask is process-wide, and a test must not change it for
# the threads of the others.
CHILD = """
import json, os, stat, sys
os.umask(int(sys.argv[2], 8))
from pathlib import Path
from bot.storage import QuestionLog, create_engine_for, migrate
path = Path(sys.argv[1])
engine = create_engine_for(f"sqlite:///{path}")
migrate(engine)
with engine.connect() as conn:  # an open reader keeps the -wal and -shm files alive
    conn.exec_driver_sql("SELECT 1").all()
    QuestionLog(engine).record(question="parking at the hospital?", intent="fallback",
                               lang="en", answered=False, closest=None)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode)
             for p in [path.parent.parent, path.parent, *path.parent.iterdir()]}
print(json.dumps(modes))
"""


def test_database_files_and_new_folders_are_owner_only(tmp_path):
    umask = "000"  # the worst case: everything the bot creates would be world-writable
    db = tmp_path / "new" / "data" / "bot.sqlite3"
    out = subprocess.run([sys.executable, "-c", CHILD, str(db), umask], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    modes = json.loads(out)
    assert {"bot.sqlite3", "bot.sqlite3-wal", "bot.sqlite3-shm"} <= set(modes), modes
    for name, mode in modes.items():
        expected = 0o700 if name in ("new", "data") else 0o600
        assert mode == expected, f"{name}: {oct(mode)}"


def test_an_existing_database_readable_by_others_is_narrowed(tmp_path):
    from bot.storage import create_engine_for, migrate
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o750)  # an admin's choice for an existing folder is left alone
    db = folder / "bot.sqlite3"
    db.touch()
    db.chmod(0o644)
    engine = create_engine_for(f"sqlite:///{db}")
    migrate(engine)
    engine.dispose()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
