"""Study storage: SQLite in the run directory by default, any Optuna URL, or a journal file.

Opening a storage is where damage is found: a journal file whose last record was torn by a
killed writer is repaired (backed up, cut to its last complete record), and an SQLite file
that is not a database is one line, never a traceback.
"""

from __future__ import annotations

import random
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from automl.core.errors import StudyError, UserError, reason
from automl.core.records import TrialRecord
from automl.tuning.internals import StaleHookRDBStorage

__all__ = [
    "make_storage",
    "default_storage_url",
    "display_url",
    "repair_journal",
    "is_storage_error",
    "JOURNAL_SUFFIXES",
    "JOURNAL_FILE",
    "LOST_TRIAL",
    "default_storage",
]

# The reason stored on a trial whose heartbeats stopped (Optuna records none of its own).
LOST_TRIAL = "its worker stopped sending heartbeats (killed, crashed or lost)"

JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")
JOURNAL_FILE = "study.jsonl"  # the default storage of a study run by several workers

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


class _RDBStorage(StaleHookRDBStorage):
    """Optuna's RDB storage that stores why a lost trial failed.

    Optuna fails a trial whose heartbeats stopped but records no reason, and once it is FAIL
    its attributes are frozen; so the record (reason, kind, whether it counts) is written here,
    while the trial is still RUNNING, just before ``fail_stale_trials`` changes its state. The
    retry is enqueued by the stale-trial callback, which Optuna calls only in the process whose
    state change won.
    """

    max_retries = 2

    def before_failing_stale(self, trial_ids: list[int]) -> None:
        self._record_lost(trial_ids, self.max_retries)

    def stale_trials(self, study_id: int, grace_period: float, max_retries: int) -> list[int]:
        """RUNNING trials of the study whose last heartbeat is older than ``grace_period``,
        each recorded as lost (the storage proxy asks with its worker's grace period)."""
        stale = self.heartbeats_older_than(study_id, grace_period)
        self._record_lost(stale, max_retries)
        return stale

    def _record_lost(self, trial_ids: list[int], max_retries: int) -> None:
        from automl.tuning.retry import infra_failure_attrs

        for trial_id in trial_ids:
            try:
                record = TrialRecord.from_attrs(self.get_trial(trial_id).user_attrs)
                attrs = infra_failure_attrs(record, LOST_TRIAL, "lost", max_retries)
                for key, value in attrs.items():
                    self.set_trial_user_attr(trial_id, key, value)
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another worker failed it first (and wrote the same record)


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from the study storage (a database or a journal file failing)."""
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:  # pragma: no cover - SQLAlchemy comes with Optuna
        SQLAlchemyError = ()  # type: ignore[assignment,misc]  # noqa: N806
    grpc = sys.modules.get("grpc")  # the storage proxy's client: loaded only when in use
    if grpc is not None and isinstance(exc, grpc.RpcError):
        return True
    return isinstance(exc, SQLAlchemyError | optuna.exceptions.StorageInternalError)


def repair_journal(path: Path) -> str | None:
    """Cut a torn last record off a journal file; return a one-line note, or ``None``.

    A writer killed in the middle of an append leaves a last line without its newline; Optuna
    would then fail every read, and a rerun would append onto the torn line. The file is
    copied to ``<file>.torn-<time>.bak`` first, under the journal's own lock so that no live
    writer is cut.

    Raises:
        StudyError: The damage is not at the end (a record in the middle does not parse).
    """
    import json

    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.exists() or path.stat().st_size == 0:
        return None
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        data = path.read_bytes()
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        last = data[data.rfind(b"\n", 0, max(cut - 1, 0)) + 1 : cut]
        try:
            json.loads(last) if last.strip() else None
        except ValueError:
            raise StudyError(
                f"sweep.storage={path}: the journal's last complete record does not parse; the "
                "file is damaged beyond a torn tail. Restore it from a backup, or start a new "
                "study (sweep.study_name=... with another sweep.storage)"
            ) from None
        if not tail:
            return None
        backup = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}.bak")
        shutil.copy2(path, backup)
        with open(path, "r+b") as handle:
            handle.truncate(cut)
            handle.flush()
        return (
            f"repaired {path}: its last record was torn ({len(tail)} bytes, a writer was killed "
            f"mid-write) and was cut off; the original is kept as {backup}"
        )
    finally:
        lock.release()


def make_storage(
    url: str | None,
    run_dir: str | Path,
    heartbeat_interval: int = 30,
    grace_period: int = 120,
    *,
    max_retries: int = 2,
    on_stale: Callable[[optuna.Study, Any], object] | None = None,
    notes: list[str] | None = None,
) -> optuna.storages.BaseStorage:
    """Open (and create if needed) the storage a study lives in.

    Args:
        url: ``None`` for the default SQLite file; an SQLAlchemy URL (``sqlite:///...``,
            ``postgresql://...``); ``grpc://HOST:PORT`` for a database behind
            ``python -m automl storage-proxy``; or a file path ending in
            ``.log``/``.jsonl``/``.journal`` (optionally prefixed ``journal:``) for Optuna's
            journal storage, which suits many workers on a shared file system.
        run_dir: The run directory.
        heartbeat_interval: Seconds between a running trial's heartbeats (database storages);
            0 turns heartbeats off.
        grace_period: Seconds without a heartbeat after which a trial counts as lost and is
            failed by the next worker (or rerun) that starts a trial.
        max_retries: How often a lost trial is re-run (its record says whether it counts).
        on_stale: Called with ``(study, trial)`` for each trial this process failed as lost by
            its heartbeats (enqueues the retry).
        notes: Receives one-line notes about repairs made while opening.

    Raises:
        UserError: The database driver is missing, or the database cannot be reached.
        StudyError: The storage file is damaged.
    """
    if url and url.startswith("grpc://"):
        from automl.tuning.grpc_storage import open_grpc

        return open_grpc(url, heartbeat_interval, grace_period, max_retries, on_stale)
    if url and (url.startswith("journal:") or url.endswith(JOURNAL_SUFFIXES)):
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        note = repair_journal(path)
        if note and notes is not None:
            notes.append(note)
        storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        storage.journal_path = path  # type: ignore[attr-defined]  # for the admission lock
        return storage
    beats: dict[str, Any] = (
        {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
        if heartbeat_interval > 0
        else {}
    )
    if beats and on_stale is not None:
        beats["heartbeat_stale_trial_callback"] = on_stale
    target = _with_driver(url) if url else default_storage_url(run_dir)
    if target.startswith("sqlite:///"):
        Path(target.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        rdb = _open_rdb(target, beats)
        rdb.max_retries = max_retries
        return rdb
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
        if "not a database" in str(exc) or "malformed" in str(exc):
            where = target.removeprefix("sqlite:///")
            raise StudyError(
                f"{where} is not a readable SQLite study ({reason(exc)}): the file is damaged or "
                "is not a study; move it away to start a new study, or restore it from a backup"
            ) from None
        raise UserError(
            f"sweep.storage={display_url(url or target)}: cannot open the study storage "
            f"({reason(exc)}); check the URL, that the server runs and the user may connect"
        ) from exc


def _open_rdb(url: str, beats: dict) -> _RDBStorage:
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
                # pre_ping: a database restarted under a long study is reconnected to, not
                # failed on, at the next use of a pooled connection.
                return _RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, **beats)
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


def default_storage(run_dir: str | Path, several: bool) -> str | None:
    """The storage of a study whose ``sweep.storage`` is unset; ``None``: SQLite (``study.db``).

    With several workers it is the run directory's journal file (``study.jsonl``): SQLite
    with several writers can lose trials or fail with "database is locked". A run directory
    that already holds a study keeps it: its ``study.db`` stays in use (the caller warns when
    several workers will write it), and a later single-process run of a study that workers
    ran in ``study.jsonl`` continues there.
    """
    run_dir = Path(run_dir).resolve()
    journal, db = run_dir / JOURNAL_FILE, run_dir / "study.db"
    if db.exists() and not journal.exists():
        return None
    if several or journal.exists():
        return str(journal)
    return None
