"""Experiment trackers: each trial a run in MLflow or Weights & Biases (``trainer.logger``).

``trainer.logger=mlflow`` (extra ``automl[mlflow]``) and ``trainer.logger=wandb`` (extra
``automl[wandb]``) make every trial a run of the tracker, besides its ``metrics.csv``:

- at its start: the trial's parameters (and the study, trial number and family as tags);
- per epoch (per report of an estimator, per fold's epoch with k-fold): every column of its
  ``metrics.csv`` row, sent live from ``automl.backends.trial_log.rows_to``;
- at its end: its state (``complete``, ``pruned``, ``failed``, or ``interrupted`` when a stop
  signal ended it and it will be re-run), the reason of a pruned or failed trial, and its
  value, epochs and duration;
- after the study: the run of the trial ``best/`` exports is tagged ``best`` and gets the
  ``best/`` folder as an artifact.

Nothing leaves the machine unless the user says so: MLflow writes to a file store under the
run directory (``runs/<study>/mlruns``) unless ``MLFLOW_TRACKING_URI`` names another store;
W&B runs offline (``runs/<study>/wandb``, ``wandb sync`` uploads them) unless ``WANDB_MODE``
says otherwise. The tracker libraries are imported here only, and only when a study uses one.

A tracker that fails while a study runs (a server gone away) costs a warning in the log,
never a trial: the study's own storage remains the record.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from automl.core.errors import UserError

__all__ = [
    "TRACKERS",
    "Ending",
    "TrialRun",
    "Tracker",
    "open_tracker",
]

TRACKERS = ("mlflow", "wandb")
"""``trainer.logger`` values that make each trial a tracker run."""

State = Literal["complete", "pruned", "failed", "interrupted"]

_log = logging.getLogger("automl.study")


@dataclass
class Ending:
    """How a trial ended, for its tracker run.

    Attributes:
        state: ``complete``, ``pruned``, ``failed`` or ``interrupted`` (re-run later).
        reason: Why it was pruned, failed or interrupted (one line).
        values: Numbers of the trial as a whole: its objective value(s), epochs, duration.
    """

    state: State
    reason: str | None = None
    values: dict[str, float] = field(default_factory=dict)


class TrialRun(Protocol):
    """One trial's run in a tracker."""

    id: str

    def row(self, prefix: str, step: int, values: Mapping[str, Any]) -> None:
        """Log one ``metrics.csv`` row (``prefix`` is ``fold1/`` for a fold's rows)."""

    def end(self, ending: Ending) -> None:
        """Record how the trial ended and close the run."""


class Tracker(Protocol):
    """A study's connection to a tracker."""

    name: str
    where: str

    def start(self, number: int, params: Mapping[str, Any], family: str | None) -> TrialRun:
        """Open the run of trial ``number``."""

    def mark_best(self, run_id: str, number: int, best_dir: Path) -> None:
        """Tag the run ``run_id`` as the best and attach ``best_dir`` as an artifact."""


def open_tracker(logger: str, run_dir: Path, study_name: str) -> Tracker | None:
    """The tracker ``trainer.logger`` names, connected; ``None`` for ``csv``/``tensorboard``.

    Raises:
        UserError: An unknown logger, a missing extra, or a tracker that cannot be reached
            or written (one line: the study has not started).
    """
    from automl.backends.trial_log import check_logger

    check_logger(logger)
    if logger not in TRACKERS:
        return None
    try:
        if logger == "mlflow":
            return MlflowTracker(Path(run_dir), study_name)
        return WandbTracker(Path(run_dir), study_name)
    except UserError:
        raise
    except Exception as exc:
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"trainer.logger={logger}: cannot open the tracker ({line[:300]})"
        ) from None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _plain(value: object) -> bool | int | float | str | None:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


# ---------------------------------------------------------------------------------- MLflow


class MlflowTracker:
    """Trials as runs of the MLflow experiment named after the study.

    The store is ``MLFLOW_TRACKING_URI`` when set, else a file store in
    ``<run dir>/mlruns`` (MLflow 3 keeps that backend in maintenance mode and asks for
    ``MLFLOW_ALLOW_FILE_STORE=true``, which is set for this process when automl picks it).
    """

    name = "mlflow"

    def __init__(self, run_dir: Path, study_name: str) -> None:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or ""
        if not uri:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            store = (run_dir / "mlruns").resolve()
            uri = store.as_uri()
            self.where = f"file store {run_dir / 'mlruns'} (MLFLOW_TRACKING_URI sends it elsewhere)"
        else:
            self.where = f"MLFLOW_TRACKING_URI={uri}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mlflow.tracking import MlflowClient

            self.client = MlflowClient(tracking_uri=uri)
            self.study = study_name
            self.experiment_id = self._experiment(study_name)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except Exception:  # another worker created it first
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return str(found.experiment_id)

    def start(self, number: int, params: Mapping[str, Any], family: str | None) -> TrialRun:
        from mlflow.entities import Param

        tags = {"automl.study": self.study, "automl.trial": str(number), "automl.state": "running"}
        if family:
            tags["automl.family"] = family
        run = self.client.create_run(self.experiment_id, run_name=f"trial-{number:04d}", tags=tags)
        run_id = str(run.info.run_id)
        if params:
            self.client.log_batch(
                run_id, params=[Param(str(k), str(_plain(v))[:6000]) for k, v in params.items()]
            )
        return _MlflowRun(self.client, run_id)

    def mark_best(self, run_id: str, number: int, best_dir: Path) -> None:
        earlier = self.client.search_runs(
            [self.experiment_id], "tags.`automl.best` = 'true'", max_results=100
        )
        for other in earlier:  # a resumed study may have chosen another trial before
            if other.info.run_id != run_id:
                self.client.set_tag(other.info.run_id, "automl.best", "false")
        self.client.set_tag(run_id, "automl.best", "true")
        self.client.log_artifacts(run_id, str(best_dir), artifact_path="best")
        self.client.set_experiment_tag(self.experiment_id, "automl.best_run", run_id)
        self.client.set_experiment_tag(self.experiment_id, "automl.best_trial", str(number))


class _MlflowRun:
    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.id = client, run_id

    def row(self, prefix: str, step: int, values: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(f"{prefix}{k}", v, now, int(step))
            for k, raw in values.items()
            if k != "step" and (v := _number(raw)) is not None
        ]
        if metrics:
            self.client.log_batch(self.id, metrics=metrics)

    def end(self, ending: Ending) -> None:
        from mlflow.entities import Metric, RunTag

        now = int(time.time() * 1000)
        tags = [RunTag("automl.state", ending.state)]
        if ending.reason:
            tags.append(RunTag("automl.reason", ending.reason[:5000]))
        metrics = [Metric(k, v, now, 0) for k, v in ending.values.items() if math.isfinite(v)]
        self.client.log_batch(self.id, metrics=metrics, tags=tags)
        status = {"failed": "FAILED", "interrupted": "KILLED"}.get(ending.state, "FINISHED")
        self.client.set_terminated(self.id, status)


# ----------------------------------------------------------------------- Weights & Biases


def _artifact_name(study: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", study) + "-best"


class WandbTracker:
    """Trials as W&B runs of project ``WANDB_PROJECT`` (default ``automl``), grouped by study.

    Offline (files under ``<run dir>/wandb``, uploaded later with ``wandb sync``) unless
    ``WANDB_MODE`` is set.
    """

    name = "wandb"

    def __init__(self, run_dir: Path, study_name: str) -> None:
        self.study = study_name
        self.dir = run_dir.resolve()
        self.project = os.environ.get("WANDB_PROJECT") or "automl"
        # wandb reads WANDB_MODE itself; only the default is decided here.
        self.mode: Literal["offline"] | None = None if os.environ.get("WANDB_MODE") else "offline"
        shown = "offline" if self.mode else f"WANDB_MODE={os.environ['WANDB_MODE']}"
        self.where = (
            f"project {self.project!r}, group {study_name!r}, {shown}, files in "
            f"{run_dir / 'wandb'}" + (" (wandb sync uploads them)" if self.mode else "")
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        # wandb's own progress lines (an artifact's files being added) stay off the console.
        os.environ.setdefault("WANDB_SILENT", "true")

    def _init(self, **kwargs: Any) -> Any:
        import wandb

        settings = wandb.Settings(silent=True, console="off", disable_git=True, save_code=False)
        return wandb.init(
            dir=str(self.dir),
            project=self.project,
            mode=self.mode,
            reinit="create_new",
            settings=settings,
            **kwargs,
        )

    def start(self, number: int, params: Mapping[str, Any], family: str | None) -> TrialRun:
        run = self._init(
            group=self.study,
            name=f"trial-{number:04d}",
            job_type="trial",
            config={
                **{str(k): _plain(v) for k, v in params.items()},
                "automl.study": self.study,
                "automl.trial": number,
                **({"automl.family": family} if family else {}),
            },
            tags=["trial"],
        )
        return _WandbRun(run)

    def mark_best(self, run_id: str, number: int, best_dir: Path) -> None:
        import wandb

        run = self._init(id=run_id, resume="allow", group=self.study)
        try:
            run.tags = (*run.tags, "best")
            run.summary["best"] = True
            artifact = wandb.Artifact(
                _artifact_name(self.study),
                type="model",
                metadata={"study": self.study, "trial": number},
            )
            artifact.add_dir(str(best_dir))
            run.log_artifact(artifact, aliases=["latest", f"trial-{number}"])
        finally:
            run.finish()


class _WandbRun:
    def __init__(self, run: Any) -> None:
        self.run, self.id = run, str(run.id)

    def row(self, prefix: str, step: int, values: Mapping[str, Any]) -> None:
        # W&B's own step only increases; k-fold rows start again at epoch 0 for each fold,
        # so the epoch is a value of its own (choose it as the x axis).
        logged = {
            f"{prefix}{k}": v
            for k, raw in values.items()
            if k != "step" and (v := _number(raw)) is not None
        }
        self.run.log({**logged, f"{prefix}epoch": int(step)})

    def end(self, ending: Ending) -> None:
        self.run.summary.update(
            {"state": ending.state, **({"reason": ending.reason} if ending.reason else {})}
        )
        self.run.summary.update({k: v for k, v in ending.values.items() if math.isfinite(v)})
        self.run.tags = (*self.run.tags, ending.state)
        self.run.finish(exit_code=0 if ending.state in ("complete", "pruned") else 1)
