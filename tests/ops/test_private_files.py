"""The database (with its -wal and -shm), backups, their folder, the copy kept before a restore
and the secret key are readable by their owner only, whatever the umask; older ones are made so.

Each case runs in a process of its own with umask 000 (which would make every file 0666 or
0777), on SQLite in a fresh instance folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from arena import PROJECT_ROOT

SCRIPT = r"""
import json, os, sys
from pathlib import Path
os.umask(0)
from arena import create_app
from arena.extensions import db
from arena.ops import backup as backups
from arena.ops.setup import ensure_database
from sqlalchemy import text

app = create_app()
ensure_database(app)
instance = Path(app.instance_path)
modes = {}
def note(path):
    for p in sorted(path.rglob("*")):
        if not p.name.endswith(".lock"):
            modes[str(p.relative_to(instance))] = oct(p.stat().st_mode & 0o777)
with app.app_context():
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with db.engine.connect() as conn:  # open: SQLite keeps its -wal and -shm files
        conn.execute(text("SELECT count(*) FROM prompt")).scalar()
        note(instance)
    db.engine.dispose()
    copy = backups.backup(url, instance / "copy.db").path
    backups.backup(url, backups.backup_dir())
    backups.restore(url, copy, safety_dir=backups.backup_dir())
    note(instance)
print(json.dumps(modes))
"""


def run_with_umask_000(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["ARENA_INSTANCE_PATH"] = str(instance)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    modes: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modes


#: Files of the instance folder that are not the database's, its backups' or the key's.
OTHERS = ("ratelimits.db",)


def assert_private(modes: dict[str, str]) -> None:
    wide = {
        name: mode
        for name, mode in modes.items()
        if int(mode, 8) & 0o077 and not name.startswith(OTHERS)
    }
    assert wide == {}


def test_files_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    modes = run_with_umask_000(tmp_path / "instance")
    for name in ("arena.db", "arena.db-wal", "arena.db-shm", "secret_key", "copy.db", "backups"):
        assert name in modes
    backups = [name for name in modes if name.startswith("backups/arena-")]
    assert len(backups) == 2  # the nightly-style copy and the one kept before the restore
    assert_private(modes)
    assert modes["backups"] == "0o700" and modes["arena.db"] == "0o600"


def test_older_files_others_may_read_are_made_private(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    first = run_with_umask_000(instance)
    # As an older version (or a copy by hand) would have left them: readable by everyone.
    for path in (instance / name for name in first):
        if path.exists():
            path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.copyfile(instance / "copy.db", instance / "backups" / "arena-20200101T000000Z.db")
    (instance / "backups" / "arena-20200101T000000Z.db").chmod(0o644)
    modes = run_with_umask_000(instance)
    assert modes["backups/arena-20200101T000000Z.db"] == "0o600"
    assert modes["secret_key"] == "0o600" and modes["backups"] == "0o700"
    assert_private(modes)
