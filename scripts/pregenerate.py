#!/usr/bin/env python3
"""One pre-generation run, for cron: the same code and options as ``flask --app arena
pregenerate`` (``--budget``, ``--until``, ``--models``, ``--prompts``, ``--dry-run``).

    0 1 * * * cd /path/to/arena && .venv/bin/python scripts/pregenerate.py --until 06:00

The instance folder and settings come from the environment (``ARENA_INSTANCE_PATH``,
``ARENA_OLLAMA_URL``, ...) exactly as for the web app. Exit status (the command's):

- 0: the plan was done, there was nothing to do, or the deadline stopped it between answers;
- 1: it could not start (another run holds the lock, an unknown model);
- 2: a usage error (or a wrong setting);
- 3: some planned answers failed (recorded with their reasons), the others were stored;
- 4: nothing could be stored (every answer failed, every backend was given up).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena import create_app
from arena.cli.pregen import pregenerate_command


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--help" in args:  # no instance folder or database needed for that
        pregenerate_command.main(args=args, prog_name="pregenerate.py")
    app = create_app()
    try:
        with app.app_context():
            pregenerate_command.main(
                args=[*args, "--trigger", "cron"], prog_name="pregenerate.py", standalone_mode=True
            )
    finally:
        # The run is over (its status decided): cron's SIGTERM arriving while the process
        # exits must not turn that status into "killed by SIGTERM".
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 0  # standalone_mode exits with the command's status before this line


if __name__ == "__main__":
    sys.exit(main())
