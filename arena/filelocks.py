"""Lock files shared by the processes of a machine: ``flock`` taken without waiting.

The kernel releases such a lock when the last descriptor of the file closes, however its
process ends (kill -9 too), and a process it is passed to (``pass_fds``) holds it on.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO


def try_flock(path: Path) -> IO[str] | None:
    """``path`` opened and locked (exclusive), or None at once when another holds it."""
    handle = open(path, "a+")  # noqa: SIM115  (returned open: the lock lives with it)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def unflock(handle: IO[str]) -> None:
    """Release a lock :func:`try_flock` took, and close its file."""
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()
