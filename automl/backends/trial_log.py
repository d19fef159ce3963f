"""Per-trial training logs: ``trials/NNNN/metrics.csv`` and, optionally, TensorBoard events.

``metrics.csv`` has a header and then one row per epoch (Lightning) or per report
(estimators), appended as the trial runs so a pruned or failed trial keeps the rows it
reached: ``step`` (the step of the value reported to the study: the epoch index for Lightning),
``train_loss`` (the epoch's mean training loss), every validation metric, ``lr`` (of the first
optimizer) and ``elapsed_s``. Like Lightning's ``CSVLogger`` file, it reads with
``pandas.read_csv`` and any CSV reader.

``trainer.logger=tensorboard`` (extra ``automl[tensorboard]``) adds TensorBoard event files in
each trial's directory, with the trial's parameters as hparams, so
``tensorboard --logdir runs/<study>`` compares trials. ``trainer.logger=mlflow`` and ``wandb``
make each trial a tracker run (``automl.tuning.trackers``): the study loop registers a sink
for the trial's directory with ``rows_to``, and every row written here is passed to it.

The training backends wire these in: the Lightning backend's lean loop writes ``MetricsCSV``
rows itself (``automl.backends.epoch_watch``), a Trainer gets ``trial_logging(...)``'s
callbacks and logger (the same rows); ``csv_report(...)`` wraps an estimator's report
function.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.core.atomic import write_text

if TYPE_CHECKING:
    import pytorch_lightning as pl
    from pytorch_lightning.loggers import TensorBoardLogger
from automl.core.errors import UserError

__all__ = [
    "METRICS_FILE",
    "LOGGERS",
    "MetricsCSV",
    "metrics_csv_callback",
    "csv_report",
    "tensorboard_logger",
    "check_logger",
    "trial_logging",
    "rows_to",
    "RowSink",
]

METRICS_FILE = "metrics.csv"

LOGGERS = ("csv", "tensorboard", "mlflow", "wandb")
"""``trainer.logger`` values: ``csv`` writes ``metrics.csv``; ``tensorboard`` also events;
``mlflow`` and ``wandb`` also a tracker run per trial (``automl.tuning.trackers``)."""

_TRACKER_EXTRAS = {"mlflow": ("mlflow", "automl[mlflow]"), "wandb": ("wandb", "automl[wandb]")}

RowSink = Callable[[str, int, Mapping[str, Any]], None]
"""Receives ``(prefix, step, row)`` for each ``metrics.csv`` row; ``prefix`` is ``""`` for the
trial's own file and ``fold1/`` for ``fold1/metrics.csv``."""

_SINKS: dict[Path, RowSink] = {}


@contextmanager
def rows_to(trial_dir: str | Path, sink: RowSink) -> Iterator[None]:
    """Pass every ``metrics.csv`` row written under ``trial_dir`` (its folds' too) to ``sink``
    while the block runs. The sink must not raise: training does not wait for it."""
    key = Path(trial_dir).resolve()
    _SINKS[key] = sink
    try:
        yield
    finally:
        _SINKS.pop(key, None)


def _sink_of(path: Path) -> tuple[RowSink | None, str]:
    if not _SINKS:
        return None, ""
    folder = path.parent.resolve()
    if folder in _SINKS:
        return _SINKS[folder], ""
    if folder.parent in _SINKS:  # trials/NNNN/fold1/metrics.csv
        return _SINKS[folder.parent], f"{folder.name}/"
    return None, ""


_FIRST, _LAST = ("step", "train_loss"), ("lr", "elapsed_s")


def _order(columns: set[str]) -> list[str]:
    middle = sorted(c for c in columns if c not in _FIRST + _LAST)
    val = [c for c in middle if c.startswith("val_")]
    rest = [c for c in middle if not c.startswith("val_")]
    return [c for c in _FIRST if c in columns] + val + rest + [c for c in _LAST if c in columns]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)  # nan/inf kept: divergence
    return str(value)


class MetricsCSV:
    """Appends rows to a trial's ``metrics.csv`` (header first; columns grow if needed).

    Args:
        path: The file (its directory is created).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns: list[str] = []
        self.rows: list[dict[str, Any]] = []
        self.start = time.perf_counter()
        self.sink, self.prefix = _sink_of(self.path)

    def restore(self, rows: list[Mapping[str, Any]]) -> None:
        """Start the file with the rows a checkpoint kept (a resumed trial's earlier epochs);
        ``elapsed_s`` goes on from the last of them."""
        self.columns, self.rows = [], []
        for row in rows:
            values = {k: v for k, v in row.items() if k not in ("step", "elapsed_s")}
            self._append(int(row["step"]), values, row.get("elapsed_s"))
        last = rows[-1].get("elapsed_s") if rows else None
        self.start = time.perf_counter() - (float(last) if last is not None else 0.0)

    def write(self, step: int, values: Mapping[str, Any]) -> None:
        """Append the row of ``step`` (``elapsed_s`` since this writer started is added)."""
        self._append(step, values, round(time.perf_counter() - self.start, 3))

    def _append(self, step: int, values: Mapping[str, Any], elapsed: float | None) -> None:
        row = {**dict(values), "step": int(step)}
        row["elapsed_s"] = elapsed
        self.rows.append(row)
        if not self.columns:
            self.columns = _order(set(row))
            with open(self.path, "w", newline="") as fh:
                csv.writer(fh).writerows([self.columns, self._cells(row)])
        else:
            if set(row) - set(self.columns):
                self._widen(set(row))
            with open(self.path, "a", newline="") as fh:
                csv.writer(fh).writerow(self._cells(row))
        if self.sink is not None:
            self.sink(self.prefix, int(step), row)

    def _cells(self, row: Mapping[str, Any]) -> list[str]:
        return [_cell(row.get(c)) for c in self.columns]

    def _widen(self, more: set[str]) -> None:
        """A new column (a metric that appeared late): rewrite the file with it, atomically."""
        with open(self.path, newline="") as fh:
            old = list(csv.DictReader(fh))
        self.columns = _order(set(self.columns) | more)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.columns)
        writer.writerows([[r.get(c, "") for c in self.columns] for r in old])
        write_text(self.path, buffer.getvalue())


def csv_report(
    report: Callable[[int, float], bool] | None, path: str | Path, key: str
) -> Callable[[int, float], bool]:
    """An estimator's ``report(step, value)`` that also appends ``{key: value}`` to the CSV.

    Args:
        report: The study's report function (or ``None``).
        path: The trial's ``metrics.csv``.
        key: The reported metric's name (``val_acc``).
    """
    log = MetricsCSV(path)

    def logged(step: int, value: float) -> bool:
        log.write(step, {key: float(value)})
        return bool(report(step, value)) if report is not None else False

    return logged


def metrics_csv_callback(path: str | Path, log_to_loggers: bool = True) -> pl.Callback:
    """A Lightning callback writing one ``metrics.csv`` row per training epoch.

    The epoch's mean training loss is summed on the loss's device and read once per epoch
    (no GPU synchronisation per step). Validation metrics are those the model logged in the
    epoch's validation run (``val_*``); ``lr`` is the first optimizer's first group's.
    With a Lightning logger attached (TensorBoard), ``train_loss`` and ``lr`` go there too.

    Args:
        path: The trial's ``metrics.csv``.
        log_to_loggers: Also send ``train_loss``/``lr`` to the trainer's loggers.
    """
    import pytorch_lightning as pl
    import torch

    class MetricsCSVCallback(pl.Callback):
        def __init__(self) -> None:
            self.csv = MetricsCSV(path)
            self._sum: torch.Tensor | None = None
            self._count = 0
            self._validated = False

        def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            self._sum, self._count, self._validated = None, 0, False

        def on_train_batch_end(
            self,
            trainer: pl.Trainer,
            module: pl.LightningModule,
            outputs: object,  # Lightning's STEP_OUTPUT: a tensor, a mapping or None
            batch: object,  # whatever the module's dataloader yields
            batch_idx: int,
        ) -> None:
            loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
            if not isinstance(loss, torch.Tensor):
                return  # manual optimization without a returned loss: no train_loss column
            loss = loss.detach()
            if self._sum is None:
                self._sum = loss.clone().float()
            else:
                self._sum.add_(loss)  # on the loss's device: no sync here
            self._count += 1

        def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            self._validated = not trainer.sanity_checking

        def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            values: dict[str, float] = {}
            if self._count and self._sum is not None:
                values["train_loss"] = float(self._sum) / self._count  # the epoch's one read
            if self._validated:
                for key, value in trainer.callback_metrics.items():
                    if key.startswith("val_"):
                        values[key] = float(value)
            if trainer.optimizers:
                values["lr"] = float(trainer.optimizers[0].param_groups[0]["lr"])
            self.csv.write(trainer.current_epoch, values)
            extra: dict[str, float] = {k: values[k] for k in ("train_loss", "lr") if k in values}
            if log_to_loggers and extra:
                for logger in trainer.loggers:
                    logger.log_metrics(extra, step=trainer.global_step)

    return MetricsCSVCallback()


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (MLflow takes seconds)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module blocked in sys.modules (None) or broken
        return False


def check_logger(name: str) -> None:
    """Fail in one line for an unknown ``trainer.logger`` or a missing extra (a tracker's
    library is looked up, not imported)."""
    if name not in LOGGERS:
        raise UserError(
            f"trainer.logger={name}: not one of {', '.join(LOGGERS)}; "
            "csv writes trials/NNNN/metrics.csv, tensorboard also TensorBoard event files, "
            "mlflow and wandb also one MLflow / W&B run per trial"
        )
    if name == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise UserError(
                "trainer.logger=tensorboard: TensorBoard is not installed; "
                "pip install 'automl[tensorboard]' (or use trainer.logger=csv)"
            ) from None
    if name in _TRACKER_EXTRAS:
        module, extra = _TRACKER_EXTRAS[name]
        if not _installed(module):
            raise UserError(
                f"trainer.logger={name}: {module} is not installed; pip install '{extra}' "
                "(or use trainer.logger=csv)"
            )


def _hparam(value: object) -> bool | int | float | str:
    if isinstance(value, bool) or isinstance(value, (int, float, str)):
        return value
    return str(value)


def tensorboard_logger(
    trial_dir: str | Path, params: Mapping[str, Any], metrics: tuple[str, ...] = ()
) -> TensorBoardLogger:
    """A Lightning ``TensorBoardLogger`` writing into the trial's directory.

    The trial's parameters are written as TensorBoard hparams, with ``metrics`` (e.g.
    ``("val_acc", "val_loss")``, which the model logs every epoch) as the metrics the HPARAMS
    tab compares; no placeholder metric value is logged.

    Raises:
        UserError: TensorBoard is not installed (names the ``tensorboard`` extra).
    """
    check_logger("tensorboard")
    from pytorch_lightning.loggers import TensorBoardLogger
    from torch.utils.tensorboard.summary import hparams

    logger = TensorBoardLogger(
        save_dir=str(trial_dir), name="", version="", default_hp_metric=False
    )
    exp, ssi, sei = hparams({k: _hparam(v) for k, v in params.items()}, dict.fromkeys(metrics, 0))
    writer = logger.experiment._get_file_writer()
    for summary in (exp, ssi, sei):
        writer.add_summary(summary)
    return logger


def trial_logging(
    logger: str,
    trial_dir: str | Path,
    params: Mapping[str, Any],
    metrics: tuple[str, ...] = (),
) -> tuple[list[Any], Any]:
    """The callbacks and Lightning logger of one trial (``([csv callback], logger or False)``).

    Args:
        logger: ``trainer.logger`` (``csv`` or ``tensorboard``).
        trial_dir: The trial's directory (``trials/NNNN``).
        params: The trial's sampled parameters.
        metrics: Metric names for TensorBoard's hparams view (the objective first).
    """
    check_logger(logger)
    callbacks = [metrics_csv_callback(Path(trial_dir) / METRICS_FILE)]
    if logger == "tensorboard":
        return callbacks, tensorboard_logger(trial_dir, params, metrics)
    return callbacks, False
