"""One worker at a time decides whether a study needs another trial and starts it.

Several workers on one study each count its trials and start one more while the total is not
reached. Counting and starting are two steps, so two workers can both see "one to go" and
both start it; and two workers sampling at the same moment cannot see each other's
configuration. A short exclusive lock around count, ``ask`` and the sampling of the
parameters closes both gaps: the study ends with exactly ``sweep.n_trials`` trials and the
duplicate check sees every other configuration.

The lock is the storage's own kind: a PostgreSQL advisory lock for a PostgreSQL study (works
across machines), an ``flock`` next to the file for SQLite and journal files (works on one
machine and on file systems that support locking), the storage proxy's own lock for
``grpc://`` (``automl storage-proxy``: a first-come-first-served lock held as a gRPC stream,
released when its worker's connection closes), and none for other databases.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

__all__ = ["admission"]


def _flock(path: Path) -> AbstractContextManager[None]:
    from automl.tuning.lock import file_lock

    return file_lock(path)


@contextmanager
def _advisory(storage: Any, key: int) -> Iterator[None]:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    def acquire() -> Any:
        conn = storage.engine.connect()
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        except BaseException:
            conn.close()
            raise
        return conn

    # Taking the lock rides out an outage like any other storage call (automl.tuning.storage).
    patiently = getattr(storage, "patiently", None)
    conn = patiently(acquire) if patiently is not None else acquire()
    try:
        yield
    finally:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        except SQLAlchemyError:
            pass  # the server dropped the session (a restart), and the lock with it
        finally:
            conn.close()


def admission(storage: Any, study_name: str) -> AbstractContextManager[None]:
    """The lock that serializes "count, then start a trial" across a study's workers."""
    url = str(getattr(storage, "url", "") or "")
    key = f"automl/{study_name}"
    if url.startswith("grpc://"):
        return storage.admission(key)  # automl.tuning.grpc_storage.GrpcStorage
    if url.startswith("sqlite:///"):
        return _flock(Path(url.removeprefix("sqlite:///") + ".admit.lock"))
    if url.startswith("postgresql"):
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return _advisory(storage, int.from_bytes(digest, "big", signed=True))
    path = getattr(storage, "journal_path", None)  # set by make_storage on journal files
    if path:
        return _flock(Path(str(path) + ".admit.lock"))
    return nullcontext()
