"""Study storage: SQLite in the run directory by default, any Optuna URL, or a journal file."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna

__all__ = ["make_storage", "default_storage_url", "JOURNAL_SUFFIXES"]

JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")

# Heartbeats let a later run (or another worker) fail the trials of a process that died
# without telling the storage, instead of leaving them RUNNING forever.
HEARTBEAT_S = 30
GRACE_S = 120


def default_storage_url(run_dir: str | Path) -> str:
    """``sqlite:///<run_dir>/study.db``."""
    return f"sqlite:///{Path(run_dir).resolve() / 'study.db'}"


def make_storage(url: str | None, run_dir: str | Path) -> optuna.storages.BaseStorage:
    """Open (and create if needed) the storage a study lives in.

    Args:
        url: ``None`` for the default SQLite file; an SQLAlchemy URL (``sqlite:///...``,
            ``postgresql://...``); or a file path ending in ``.log``/``.jsonl``/``.journal``
            (optionally prefixed ``journal:``) for Optuna's journal storage, which suits many
            workers on a shared file system.
        run_dir: The run directory.
    """
    if url and (url.startswith("journal:") or url.endswith(JOURNAL_SUFFIXES)):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url or default_storage_url(run_dir),
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
        )
