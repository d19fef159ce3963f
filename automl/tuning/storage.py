"""Study storage: SQLite in the run directory by default, any Optuna URL, or a journal file."""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path

import optuna

from automl.errors import UserError, reason
from automl.tuning.lost import LOST_TRIAL

__all__ = ["make_storage", "default_storage_url", "display_url", "JOURNAL_SUFFIXES"]

JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")

_CREATE_ATTEMPTS = 5

# Drivers SQLAlchemy loads for each database; named in the error when one is missing.
_DRIVER_HINTS = {
    "postgresql": "pip install 'automl[postgres]' (psycopg 3)",
    "mysql": "pip install pymysql and use mysql+pymysql://",
}


def default_storage_url(run_dir: str | Path) -> str:
    """``sqlite:///<run_dir>/study.db``."""
    return f"sqlite:///{Path(run_dir).resolve() / 'study.db'}"


def _with_driver(url: str) -> str:
    """Pin ``postgresql://`` to psycopg 3, the driver ``automl[postgres]`` installs.

    SQLAlchemy 2.0 reads a bare ``postgresql://`` as psycopg2 and 2.1 as psycopg; naming the
    driver makes the URL mean the same under both. An explicit ``postgresql+DRIVER://`` stays.
    """
    return (
        "postgresql+psycopg://" + url[len("postgresql://") :]
        if url.startswith("postgresql://")
        else url
    )


def display_url(url: str) -> str:
    """The URL with its password masked, fit for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL (a journal path): nothing secret to hide
        return url


class _RDBStorage(optuna.storages.RDBStorage):
    """Optuna's RDB storage that stores why a lost trial failed.

    Optuna fails a trial whose heartbeats stopped but records no reason, and once it is FAIL
    its attributes are frozen; so the reason is written here, while the trial is still
    RUNNING, just before ``fail_stale_trials`` changes its state.
    """

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = super()._get_stale_trial_ids(study_id)
        for trial_id in stale:
            try:
                self.set_trial_user_attr(trial_id, "error", LOST_TRIAL)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another worker failed it first (and wrote the same reason)
        return stale


def make_storage(
    url: str | None,
    run_dir: str | Path,
    heartbeat_interval: int = 30,
    grace_period: int = 120,
) -> optuna.storages.BaseStorage:
    """Open (and create if needed) the storage a study lives in.

    Args:
        url: ``None`` for the default SQLite file; an SQLAlchemy URL (``sqlite:///...``,
            ``postgresql://...``); or a file path ending in ``.log``/``.jsonl``/``.journal``
            (optionally prefixed ``journal:``) for Optuna's journal storage, which suits many
            workers on a shared file system.
        run_dir: The run directory.
        heartbeat_interval: Seconds between a running trial's heartbeats (database storages);
            0 turns heartbeats off.
        grace_period: Seconds without a heartbeat after which a trial counts as lost and is
            failed by the next worker (or rerun) that starts a trial.

    Raises:
        UserError: The database driver is missing, or the database cannot be reached.
    """
    if url and (url.startswith("journal:") or url.endswith(JOURNAL_SUFFIXES)):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    beats = (
        {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
        if heartbeat_interval > 0
        else {}
    )
    try:
        return _open_rdb(_with_driver(url) if url else default_storage_url(run_dir), beats)
    except ImportError as exc:
        dialect, _, driver = (url or "").split(":", 1)[0].partition("+")
        hint = (
            f"install the {driver} package"
            if driver
            else _DRIVER_HINTS.get(dialect, f"install a database driver for {dialect}")
        )
        raise UserError(
            f"sweep.storage={display_url(url or '')}: the database driver is not installed "
            f"({reason(exc.__cause__ or exc)}); {hint}"
        ) from exc
    except Exception as exc:  # SQLAlchemy's errors: a bad URL, a server that is down, auth
        if not url:
            raise
        raise UserError(
            f"sweep.storage={display_url(url)}: cannot open the study storage "
            f"({reason(exc)}); check the URL, that the server runs and the user may connect"
        ) from exc


def _open_rdb(url: str, beats: dict) -> optuna.storages.RDBStorage:
    """``RDBStorage(url)``, retried while another worker is creating the same tables.

    Workers started together on an empty database all run ``CREATE TABLE``; the losers get a
    unique-key, "already exists" or (SQLite) "locked" error, and on a second try find the
    tables in place.
    """
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(_CREATE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return _RDBStorage(url, **beats)
        except (IntegrityError, ProgrammingError, OperationalError) as exc:
            # SQLite says "table ... already exists" or "database is locked" as an
            # OperationalError, which is also how a refused connection looks: retry only those.
            racing = not isinstance(exc, OperationalError) or any(
                text in str(exc) for text in ("already exists", "database is locked")
            )
            if not racing or attempt == _CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.2)
    raise AssertionError("unreachable")
