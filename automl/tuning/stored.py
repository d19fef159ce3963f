"""Open a study that is stored somewhere, read-only: for ``report``, ``watch`` and warm starts.

The target a user names is a run directory (``runs/cnn-digits``: its ``study.db``, a journal
file inside it, or the ``sweep.storage`` its Hydra config names), an SQLAlchemy URL
(``sqlite:///...``, ``postgresql://...``) or a journal file. Nothing here writes to the
storage: SQLite files are opened in SQLite's read-only mode, tables are never created, and a
path that does not exist is an error rather than a new, empty storage.

``StoredStudy.read`` turns the study into a ``StudySnapshot`` (``automl.core.study_record``):
its record, directions and trials, which the tools in ``automl.results`` draw without Optuna.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from automl.core.errors import UserError
from automl.core.study_record import StudyRecord, StudySnapshot
from automl.study.rundir import HISTORY_FILE, LOG_FILE

if TYPE_CHECKING:
    import optuna
    from optuna.storages import BaseStorage, GrpcStorageProxy, JournalStorage, RDBStorage

    from automl.core.objectives import Direction

__all__ = ["StoredStudy", "open_stored", "study_names", "run_config", "JOURNAL_SUFFIXES"]

JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")
"""File endings of Optuna journal storages (as ``sweep.storage`` accepts them)."""

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# automl's own files next to a journal in a run directory: the run's log and its history.
_NOT_JOURNALS = {LOG_FILE, HISTORY_FILE}


@dataclass
class StoredStudy:
    """A study found in a storage, opened read-only.

    Attributes:
        storage: The Optuna storage object.
        name: The study's name.
        run_dir: The run directory the study belongs to, when one is known.
        where: The storage, as the user may read it (password masked).
    """

    storage: BaseStorage
    name: str
    run_dir: Path | None
    where: str

    def load(self) -> optuna.Study:
        """The ``optuna.Study`` (loading reads; it writes nothing)."""
        import optuna

        return optuna.load_study(study_name=self.name, storage=self.storage)

    def snapshot(self, study: optuna.Study | None = None) -> StudySnapshot:
        """The study now, as plain values (``StudySnapshot``).

        Args:
            study: The ``optuna.Study`` when already loaded (``load``), else it is loaded.
        """
        study = study if study is not None else self.load()
        trials = study.get_trials(deepcopy=False)
        return StudySnapshot(
            name=self.name,
            where=self.where,
            run_dir=self.run_dir,
            record=_with_config(StudyRecord.from_attrs(study.user_attrs), run_config(self.run_dir)),
            # StudyDirection's names, lowered, are the Direction literals (NOT_SET never is stored).
            directions=tuple(cast("Direction", d.name.lower()) for d in study.directions),
            metric_names=tuple(str(n) for n in (study.metric_names or ())),
            trials=tuple(trials),
        )

    def read(self, study: optuna.Study | None = None) -> StudySnapshot | None:
        """``snapshot``, or ``None`` when the storage is busy this time (a writer holds an
        SQLite file: the next read will do)."""
        from sqlalchemy.exc import OperationalError

        try:
            return self.snapshot(study)
        except OperationalError:
            return None


def _with_config(record: StudyRecord, config: dict[str, Any]) -> StudyRecord:
    """A record of an earlier automl completed from the run's saved config: the sampler,
    the pruner and the total it ran with (what the record holds wins)."""
    sweep = config.get("sweep")
    if not isinstance(sweep, dict):
        return record
    n_trials = sweep.get("n_trials")
    if record.n_trials is not None or not isinstance(n_trials, int) or isinstance(n_trials, bool):
        n_trials = record.n_trials
    return dataclasses.replace(
        record,
        sampler=record.sampler or _text(sweep.get("sampler")),
        pruner=record.pruner or _text(sweep.get("pruner")),
        n_trials=n_trials,
    )


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def _display(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL: nothing secret in it
        return url


def _sqlite_readonly(path: Path) -> RDBStorage:
    import optuna

    if not path.is_file():
        raise UserError(f"{path}: no such SQLite file; pass a run directory or a storage URL")
    # SQLite's read-only mode: whatever Optuna or SQLAlchemy do, the file is not written.
    url = f"sqlite:///file:{path.resolve()}?mode=ro&uri=true"
    return optuna.storages.RDBStorage(url, skip_table_creation=True)


def _journal(path: Path) -> JournalStorage:
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if not path.is_file():
        raise UserError(f"{path}: no such journal file; pass a run directory or a storage URL")
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def _grpc(url: str) -> GrpcStorageProxy:
    """A study behind ``python -m automl storage-proxy`` (read through the proxy)."""
    import warnings

    import optuna

    host, _, port = url.removeprefix("grpc://").rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"{url}: a storage proxy's URL is grpc://HOST:PORT")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.GrpcStorageProxy(host=host.strip("[]"), port=int(port))
        storage.wait_server_ready(timeout=15)
    except (ImportError, ConnectionError) as exc:
        raise UserError(
            f"{url}: cannot reach the storage proxy ({type(exc).__name__}: {exc}); check that "
            "python -m automl storage-proxy runs there (pip install 'automl[grpc]')"
        ) from exc
    return storage


def _url(url: str) -> BaseStorage:
    import optuna

    if url.startswith("sqlite:///"):
        return _sqlite_readonly(Path(url.removeprefix("sqlite:///").split("?", 1)[0]))
    if url.startswith("grpc://"):
        return _grpc(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        return optuna.storages.RDBStorage(url, skip_table_creation=True)
    except Exception as exc:  # a missing driver, a server that is down, bad credentials
        from automl.core.errors import reason

        raise UserError(
            f"{_display(url)}: cannot open the study storage ({reason(exc)}); check the URL "
            "and that the database is reachable"
        ) from exc


def run_config(run_dir: Path | None) -> dict[str, Any]:
    """The run's composed config as Hydra saved it (``.hydra/config.yaml``), or ``{}``.

    Read as plain YAML data: nothing is resolved or run.
    """
    config = run_dir / ".hydra" / "config.yaml" if run_dir is not None else None
    if config is None or not config.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(config.read_text())
    except (yaml.YAMLError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def _configured_storage(run_dir: Path) -> str | None:
    """``sweep.storage`` from the run's saved Hydra config, when it names one."""
    sweep = run_config(run_dir).get("sweep") or {}
    storage = sweep.get("storage") if isinstance(sweep, dict) else None
    return str(storage) if storage else None


def _journal_in(run_dir: Path) -> list[Path]:
    found = []
    for path in sorted(run_dir.iterdir()):
        if path.is_file() and path.suffix in JOURNAL_SUFFIXES and path.name not in _NOT_JOURNALS:
            with open(path, "rb") as fh:
                first = fh.read(1)
            if first in (b"{", b""):  # a journal is one JSON object per line
                found.append(path)
    return found


def _open_target(target: str) -> tuple[Any, Path | None, str]:
    """(storage, run directory or None, where) for what the user named."""
    if "://" in target:
        storage = _url(target)
        run_dir = None
        if target.startswith("sqlite:///"):
            run_dir = Path(target.removeprefix("sqlite:///").split("?", 1)[0]).parent
        return storage, run_dir, _display(target)
    path = Path(target).expanduser()
    if path.is_dir():
        if (path / "study.db").is_file():
            return _sqlite_readonly(path / "study.db"), path, str(path / "study.db")
        journals = _journal_in(path)
        if len(journals) == 1:
            return _journal(journals[0]), path, str(journals[0])
        if len(journals) > 1:
            names = ", ".join(p.name for p in journals)
            raise UserError(f"{path} holds several journal files ({names}); pass one of them")
        configured = _configured_storage(path)
        if configured:
            storage, _, where = _open_target(configured)
            return storage, path, where
        raise UserError(
            f"{path}: no study.db or journal file in this directory; pass the run directory of "
            "a study, its storage URL (sqlite:///..., postgresql://...) or its journal file"
        )
    if path.suffix in JOURNAL_SUFFIXES:
        return _journal(path), path.parent, str(path)
    if path.suffix in _SQLITE_SUFFIXES:
        return _sqlite_readonly(path), path.parent, str(path)
    raise UserError(
        f"{target}: not a run directory, storage URL or journal file (no such directory, "
        "or not a .db/.jsonl/.log file); e.g. runs/cnn-digits or sqlite:///runs/cnn-digits/study.db"
    )


def study_names(storage: BaseStorage) -> list[str]:
    """Names of the studies in ``storage``, in creation order."""
    return [s.study_name for s in storage.get_all_studies()]


def open_stored(target: str, study: str | None = None) -> StoredStudy:
    """Open the study ``target`` names (see the module doc), read-only.

    Args:
        target: A run directory, an SQLAlchemy URL or a journal file.
        study: The study's name; needed only when the storage holds several.

    Raises:
        UserError: Nothing stored there, no such study, or several studies and no ``study``.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the tools print their own lines
    storage, run_dir, where = _open_target(target)
    names = study_names(storage)
    if not names:
        raise UserError(f"{where}: the storage holds no study yet")
    if study is None and len(names) > 1 and run_dir is not None and Path(target).is_dir():
        # A run directory names its own study (a database may hold many, as PostgreSQL does):
        # its saved sweep.study_name, or its own name (runs/<study_name> by default).
        sweep = run_config(run_dir).get("sweep") or {}
        own = [sweep.get("study_name") if isinstance(sweep, dict) else None, run_dir.name]
        study = next((str(n) for n in own if n in names), None)
    if study is not None:
        if study not in names:
            raise UserError(f"{where}: no study named '{study}'; studies there: {', '.join(names)}")
        name = study
    elif len(names) == 1:
        name = names[0]
    else:
        raise UserError(
            f"{where} holds {len(names)} studies ({', '.join(names)}); choose one with --study NAME"
        )
    if run_dir is not None and run_dir.name != name and (run_dir / name).is_dir():
        run_dir = run_dir / name  # a storage shared by several runs, next to their directories
    return StoredStudy(storage=storage, name=name, run_dir=run_dir, where=where)
