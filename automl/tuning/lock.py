"""Exclusive file locks: one writer at a time for a run directory's shared outputs.

Workers of one study that share a run directory (the same command started in two terminals)
finish at nearly the same moment, and each rewrites ``leaderboard.*`` and replaces ``best/``.
Without a lock one worker deletes ``best/`` while the other is writing into it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

__all__ = ["LOCK_FILE", "run_dir_lock", "file_lock"]

LOCK_FILE = ".automl.lock"


@contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed; waits for other holders).

    The lock is advisory and released by the kernel when its holder dies, so a killed worker
    never leaves it held. Where ``fcntl`` does not exist (Windows) it does nothing.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_dir_lock(run_dir: str | Path) -> AbstractContextManager[None]:
    """Hold the exclusive lock on ``<run_dir>/.automl.lock`` (see ``file_lock``)."""
    return file_lock(Path(run_dir) / LOCK_FILE)
