#!/usr/bin/env python3
"""One judging run, for cron: the same code and options as ``flask --app arena judge``
(``--judge``, ``--budget``, ``--until``, ``--limit``, ``--dry-run``).

    30 4 * * * cd /path/to/arena && .venv/bin/python scripts/judge.py --until 06:30

The instance folder and settings come from the environment (``ARENA_INSTANCE_PATH``,
``ARENA_OLLAMA_URL``, ...) exactly as for the web app. Exit status (the command's):

- 0: every planned pair was judged, there was nothing to do, or the deadline stopped it;
- 1: another judging run holds the lock;
- 2: bad input (an unknown judge, a judge prompt without its placeholders, a wrong setting);
- 3: some pairs failed (the others were stored); 4: nothing could be judged.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arena import create_app
from arena.cli.judge import judge_command


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if "--help" in args:  # no instance folder or database needed for that
        judge_command.main(args=args, prog_name="judge.py")
    app = create_app()
    try:
        with app.app_context():
            judge_command.main(args=args, prog_name="judge.py", standalone_mode=True)
    finally:
        # The run is over (its status decided): cron's SIGTERM arriving while the process
        # exits must not turn that status into "killed by SIGTERM".
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 0  # standalone_mode exits with the command's status before this line


if __name__ == "__main__":
    sys.exit(main())
