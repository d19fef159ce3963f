"""Study storage: SQLite in the run directory by default, any Optuna URL, or a journal file.

Opening a storage is where damage is found: a journal file whose last record was torn by a
killed writer is repaired (backed up, cut to its last complete record); an SQLite file that is
damaged, or is another program's database (whose tables Optuna would add its own to), is one
line, never a traceback.

A database storage rides out an outage: every read and write that meets an error a restarted
or unreachable server gives (SQLAlchemy's ``OperationalError``, a dropped connection) is
retried with backoff until the storage answers again or ``sweep.storage_wait`` seconds have
passed since it stopped answering, counted once per process (so a second call during the same
outage does not wait again); then it raises ``StorageUnreachable``, whose text says for how
long and why in the driver's words, not Optuna's "invalid data in the commit".
"""

from __future__ import annotations

import functools
import random
import shutil
import sqlite3
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from automl.core.errors import StudyError, UserError, reason
from automl.core.records import TrialRecord
from automl.tuning.internals import PRIVATE_STORAGE_CALLS, StaleHookRDBStorage

__all__ = [
    "make_storage",
    "default_storage_url",
    "display_url",
    "repair_journal",
    "is_storage_error",
    "is_transient",
    "is_disk_full",
    "storage_reason",
    "StorageUnreachable",
    "STORAGE_WAIT",
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

STORAGE_WAIT = 120.0
"""Default ``sweep.storage_wait``: seconds a storage outage is ridden out before giving up."""
_BACKOFF_FIRST, _BACKOFF_MAX = 0.25, 5.0
# PostgreSQL: a server that does not answer at all (a network partition) fails a connection
# attempt after this many seconds instead of the operating system's minutes, so the outage
# clock above, not TCP, decides how long a process waits.
_CONNECT_TIMEOUT_S = 10
# Optuna's own tables; a database holding tables but not these is another program's.
_OPTUNA_TABLES = {"studies", "version_info"}

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


class StorageUnreachable(Exception):
    """The study storage stayed unreachable for ``sweep.storage_wait`` seconds.

    Attributes:
        seconds: How long it had been unreachable when this process gave up.
        why: The last error, in the database driver's words.
    """

    def __init__(self, url: str, seconds: float, wait: float, why: str) -> None:
        super().__init__(
            f"the study storage {display_url(url)} was unreachable for {seconds:.0f} s "
            f"(sweep.storage_wait={wait:g}): {why}"
        )
        self.seconds, self.why = seconds, why


def storage_reason(exc: BaseException) -> str:
    """``reason(exc)`` in the driver's words: Optuna wraps every database error in a
    ``StorageInternalError`` whose text guesses "invalid data in the commit"; its cause says
    what happened."""
    if isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, StorageUnreachable):
        return str(exc)
    return reason(getattr(exc, "orig", None) or exc)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says a disk is full (``ENOSPC``, a quota, SQLite's "disk is full")."""
    import errno

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "disk is full" in str(exc) or "No space left on device" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _damaged(exc: BaseException) -> bool:
    text = str(exc)
    return "malformed" in text or "not a database" in text


def is_transient(exc: BaseException) -> bool:
    """Whether a storage error is one an unreachable or restarting database gives (retry it).

    A refused or dropped connection, a pool timeout and SQLite's "database is locked" are;
    a full disk, a damaged file, a constraint or a type error are not.
    """
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if isinstance(exc, optuna.exceptions.StorageInternalError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, DisconnectionError | PoolTimeout | InterfaceError):
        return True
    return isinstance(exc, OperationalError) and not (is_disk_full(exc) or _damaged(exc))


# The public storage calls Optuna and automl make, and the private ones Optuna's cache makes
# (``PRIVATE_STORAGE_CALLS``); each is retried through an outage.
_RETRIED = (
    *PRIVATE_STORAGE_CALLS,
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "get_all_studies",
    "create_new_trial",
    "set_trial_param",
    "get_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "get_all_trials",
    "get_best_trial",
    "record_heartbeat",
)


def _retried(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: _RDBStorage, *args: Any, **kwargs: Any) -> Any:
        return self.patiently(method, self, *args, **kwargs)

    return call


class _RDBStorage(StaleHookRDBStorage):
    """Optuna's RDB storage that rides out outages and stores why a lost trial failed.

    Every call in ``_RETRIED`` is retried through an outage (the module's docstring). A
    damaged SQLite file met in the middle of a study is one line (``StudyError``).

    Optuna fails a trial whose heartbeats stopped but records no reason, and once it is FAIL
    its attributes are frozen; so the record (reason, kind, whether it counts) is written here,
    while the trial is still RUNNING, just before ``fail_stale_trials`` changes its state. The
    retry is enqueued by the stale-trial callback, which Optuna calls only in the process whose
    state change won.
    """

    max_retries = 2
    storage_wait = STORAGE_WAIT
    shown_url = ""  # the URL as the user wrote it (``make_storage`` pins a driver)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._outage_since: float | None = None
        self._outage_lock = threading.Lock()

    def patiently(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)``, retried with backoff while the storage is unreachable.

        Raises:
            StorageUnreachable: It has not answered for ``storage_wait`` seconds (this call's
                wait and earlier ones of the same outage together).
            StudyError: The SQLite file is damaged.
        """
        delay = _BACKOFF_FIRST
        while True:
            try:
                result = method(*args, **kwargs)
            except Exception as exc:
                if _damaged(exc) and self.url.startswith("sqlite"):
                    raise StudyError(_damaged_line(self.url, exc)) from None
                if not is_transient(exc):
                    raise
                now = time.monotonic()
                with self._outage_lock:
                    if self._outage_since is None:
                        self._outage_since = now
                    since = self._outage_since
                left = self.storage_wait - (now - since)
                if left <= 0:
                    raise StorageUnreachable(
                        self.shown_url or self.url,
                        now - since,
                        self.storage_wait,
                        storage_reason(exc),
                    ) from exc
                time.sleep(min(delay * (0.5 + random.random()), left))
                delay = min(delay * 2, _BACKOFF_MAX)
                continue
            if self._outage_since is not None:
                with self._outage_lock:
                    self._outage_since = None
            return result

    def beat_once(self, trial_id: int) -> None:
        """Record one heartbeat, without waiting through an outage (the heartbeat thread)."""
        optuna.storages.RDBStorage.record_heartbeat(self, trial_id)

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


for _name in _RETRIED:
    setattr(_RDBStorage, _name, _retried(getattr(_RDBStorage, _name)))


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` came from the study storage (a database or a journal file failing)."""
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:  # pragma: no cover - SQLAlchemy comes with Optuna
        SQLAlchemyError = ()  # type: ignore[assignment,misc]  # noqa: N806
    grpc = sys.modules.get("grpc")  # the storage proxy's client: loaded only when in use
    if grpc is not None and isinstance(exc, grpc.RpcError):
        return True
    return isinstance(
        exc, SQLAlchemyError | optuna.exceptions.StorageInternalError | StorageUnreachable
    )


def _damaged_line(url: str, exc: BaseException) -> str:
    where = url.removeprefix("sqlite:///")
    return (
        f"{where} is not a readable SQLite study ({reason(exc)}): the file is damaged or is not "
        "a study; move it away to start a new study, or restore it from a backup"
    )


def check_sqlite_file(path: Path) -> None:
    """Refuse an SQLite file that is damaged, or that is another program's database.

    Optuna would add its tables to any database it is pointed at; a file at the study's path
    that holds tables but not Optuna's is someone else's and is left untouched. ``PRAGMA
    quick_check`` reads every page once (milliseconds for a study of thousands of trials), so
    damage anywhere in the file is found before the study uses it, not half-way through.

    Raises:
        StudyError: The file is damaged, or is not a study.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "unable to open" in str(exc):
            return  # another writer holds it, or a permission matter: opening says so
        raise StudyError(_damaged_line(f"sqlite:///{path}", exc)) from None
    except sqlite3.DatabaseError as exc:
        raise StudyError(_damaged_line(f"sqlite:///{path}", exc)) from None
    if problems != ["ok"]:
        raise StudyError(
            f"{path} is a damaged SQLite study (PRAGMA quick_check: {'; '.join(problems[:2])}): "
            "move it away to start a new study, or restore it from a backup"
        )
    if tables and not _OPTUNA_TABLES <= tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StudyError(
            f"{path} is an SQLite database but not a study (its tables: {shown}); automl "
            "leaves it untouched: move it away, or give the study another file with "
            "sweep.storage=sqlite:///PATH or another hydra.run.dir"
        )


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


def _damaged_journal(path: Path, exc: BaseException) -> str:
    """One line on a journal whose records do not all parse, naming the first bad line."""
    import json

    where = ""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                json.loads(line)
            except ValueError:
                where = f" (line {number})"
                break
    return (
        f"sweep.storage={path}: a record of the journal does not parse{where}: the file is "
        f"damaged beyond a torn tail ({reason(exc)}). Restore it from a backup, or start a new "
        "study (sweep.study_name=... with another sweep.storage)"
    )


def make_storage(
    url: str | None,
    run_dir: str | Path,
    heartbeat_interval: int = 30,
    grace_period: int = 120,
    *,
    max_retries: int = 2,
    on_stale: Callable[[optuna.Study, Any], object] | None = None,
    notes: list[str] | None = None,
    storage_wait: float = STORAGE_WAIT,
    open_wait: float = 0.0,
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
        storage_wait: Seconds an outage of a database storage is ridden out once it is open
            (``sweep.storage_wait``; 0: no retries). Opening itself does not wait: a wrong
            URL or a server that is down is one line at once.
        open_wait: Seconds opening a database storage is retried while it is unreachable:
            for a worker its parent started, which has already opened the same storage (a
            blip then is not a mistake in the command).

    Raises:
        UserError: The database driver is missing, or the database cannot be reached.
        StudyError: The storage file is damaged, or is another program's database.
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
        try:
            storage = optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except ValueError as exc:  # a record in the middle does not parse (JSON)
            raise StudyError(_damaged_journal(path, exc)) from None
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
        check_sqlite_file(Path(target.removeprefix("sqlite:///")))
    try:
        rdb = _open_patiently(target, beats, open_wait)
        rdb.max_retries, rdb.storage_wait = max_retries, float(storage_wait)
        rdb.shown_url = url or target
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
        if _damaged(exc):
            raise StudyError(_damaged_line(target, exc)) from None
        raise UserError(
            f"sweep.storage={display_url(url or target)}: cannot open the study storage "
            f"({reason(exc)}); check the URL, that the server runs and the user may connect"
        ) from exc


def _open_patiently(url: str, beats: dict, wait: float) -> _RDBStorage:
    """``_open_rdb``, retried with backoff for ``wait`` seconds while the server is away."""
    deadline, delay = time.monotonic() + wait, _BACKOFF_FIRST
    while True:
        try:
            return _open_rdb(url, beats)
        except Exception as exc:
            left = deadline - time.monotonic()
            if left <= 0 or not is_transient(exc):
                raise
            time.sleep(min(delay, left))
            delay = min(delay * 2, _BACKOFF_MAX)


def _open_rdb(url: str, beats: dict) -> _RDBStorage:
    """``RDBStorage(url)``, retried while another worker is creating the same tables.

    Workers started together on an empty database all run ``CREATE TABLE``; the losers get a
    unique-key, "already exists" or (SQLite) "locked" error, and on a second try find the
    tables in place.
    """
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    # pre_ping: a database restarted under a long study is reconnected to, not failed on, at
    # the next use of a pooled connection.
    engine: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql") and "connect_timeout" not in url:
        engine["connect_args"] = {"connect_timeout": _CONNECT_TIMEOUT_S}
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return _RDBStorage(url, engine_kwargs=engine, **beats)
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
