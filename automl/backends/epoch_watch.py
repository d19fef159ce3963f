"""What a Lightning fit decides after every validation epoch, whichever loop trains it.

``EpochWatch`` holds the decisions (a diverged fit stops, the best epoch's weights are kept
in memory, the study hears the objective value); ``lean_epoch_end`` hands it the lean loop's
epochs and writes the trial's ``metrics.csv`` rows, ``watch_callback`` hands it the Trainer's
(whose ``metrics.csv`` rows come from ``automl.backends.trial_log``'s callback).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from automl.backends.base import Goal
from automl.core.errors import TrialPruned
from automl.core.plugin import Report

if TYPE_CHECKING:
    import pytorch_lightning as pl
    import torch

    from automl.backends.lightning_loop import EpochEnd
    from automl.backends.trial_log import MetricsCSV

__all__ = ["EpochWatch", "lean_epoch_end", "watch_callback"]


class EpochWatch:
    """What a fit decides after every validation epoch, whichever loop trains it: a diverged
    fit stops, the best epoch's weights are kept (in memory), the study hears the value.

    Past its deadline it stops the fit at the end of the epoch, keeping the best epoch so far
    (``stopped`` says where); a fit that was going to end at that epoch anyway is not stopped.

    Args:
        goal: The metric and direction that pick the best epoch.
        report: The study's ``report(step, value) -> should_stop``, or ``None``.
        deadline: ``time.monotonic()`` past which the fit stops at its next epoch's end.
        max_epochs: The fit's full length, if known: neither the budget's stop nor a prune
            is taken at its last epoch, where the model is fully trained (pruning it would
            throw it away).
    """

    def __init__(
        self,
        goal: Goal,
        report: Report | None,
        deadline: float | None = None,
        max_epochs: int | None = None,
    ) -> None:
        self.goal, self.report = goal, report
        self.deadline, self.max_epochs = deadline, max_epochs
        self.stopped: str | None = None
        self.best: float | None = None
        self.best_state: dict[str, Any] | None = None
        self.best_metrics: dict[str, float] = {}
        self.best_epoch = 0
        self.epochs = 0
        self.pruned: TrialPruned | None = None
        self.non_finite: str | None = None
        self.train_loss: float | None = None
        self.reports: list[tuple[int, float]] = []

    def values(self) -> dict[str, Any]:
        """What a checkpoint keeps of the watch, as plain values (the best epoch's weights are
        tensors, kept beside them: ``best_state``)."""
        return {
            "best": self.best,
            "best_metrics": dict(self.best_metrics),
            "best_epoch": self.best_epoch,
            "epochs": self.epochs,
            "train_loss": self.train_loss,
            "reports": [[int(s), float(v)] for s, v in self.reports],
        }

    def restore(self, values: dict[str, Any], best_state: dict[str, Any] | None) -> None:
        """Continue from a checkpoint's ``values()`` and best weights."""
        self.best = None if values["best"] is None else float(values["best"])
        self.best_metrics = {k: float(v) for k, v in values["best_metrics"].items()}
        self.best_epoch, self.epochs = int(values["best_epoch"]), int(values["epochs"])
        self.train_loss = values.get("train_loss")
        self.reports = [(int(s), float(v)) for s, v in values["reports"]]
        self.best_state = best_state

    def end_epoch(
        self,
        epoch: int,
        metrics: dict[str, float],
        loss_sum: torch.Tensor | None,
        n_losses: int,
        module: pl.LightningModule,
    ) -> bool:
        """Judge one epoch; ``True`` means stop training (pruned or diverged).

        Args:
            epoch: The epoch (0-based).
            metrics: The epoch's validation metrics (``val_*``).
            loss_sum: The epoch's training losses summed on their device (read here, once).
            n_losses: How many losses were summed (0: the module returned none).
            module: The module, whose weights are copied when the epoch is the best so far.

        Raises:
            KeyError: The model did not log the objective metric.
        """
        self.epochs = epoch + 1
        if n_losses and loss_sum is not None:
            self.train_loss = float(loss_sum) / n_losses
            if not math.isfinite(self.train_loss):
                self.non_finite = f"train loss is {self.train_loss} at epoch {epoch}"
                return True
        key = self.goal.key
        if key not in metrics:
            raise KeyError(
                f"the model logged {sorted(metrics)} but not '{key}', the metric to "
                "optimize; log it in validation (self.log)"
            )
        bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
        if bad:
            # Diverged: the remaining epochs are wasted, stop now and fail the trial.
            self.non_finite = f"{bad[0]} is {metrics[bad[0]]} at epoch {epoch}"
            return True
        value = metrics[key]
        self.reports.append((epoch, float(value)))
        if self.goal.better(value, self.best):
            state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            # One statement: an alarm (the budget's cut) never leaves them out of step.
            self.best_state, self.best, self.best_metrics, self.best_epoch = (
                state,
                value,
                dict(metrics),
                epoch,
            )
        last = self.max_epochs is not None and epoch + 1 >= self.max_epochs
        if self.report is not None and self.report(epoch, value):
            if last:
                return False  # complete: the pruner saw the value, the model is kept
            self.pruned = TrialPruned(epoch, value)
            return True
        if self.deadline is not None and not last and time.monotonic() >= self.deadline:
            self.stopped = self.where(epoch + 1)
            return True
        return False

    def where(self, epochs: int) -> str:
        """``after epoch 7 of 20``: where a stopped fit stopped."""
        of = f" of {self.max_epochs}" if self.max_epochs is not None else ""
        return f"after epoch {epochs}{of}"

    def finish(self, module: pl.LightningModule) -> None:
        """After training: raise how it failed, or load the best epoch's weights."""
        if self.non_finite:
            raise FloatingPointError(self.non_finite)
        if self.pruned is not None:
            raise self.pruned
        if self.best_state is None:
            raise RuntimeError("training ended before the first validation epoch")
        module.load_state_dict(self.best_state)


def lean_epoch_end(
    watch: EpochWatch, module: pl.LightningModule, log: MetricsCSV | None
) -> EpochEnd:
    """The lean loop's end-of-epoch: the watch, then the trial's ``metrics.csv`` row (as the
    Trainer's callbacks write it: after the watch, also for the epoch that stops).

    Args:
        watch: The fit's watch.
        module: The module trained.
        log: The trial's ``metrics.csv`` writer, or ``None``.
    """

    def on_epoch(
        epoch: int,
        metrics: dict[str, float],
        loss_sum: torch.Tensor | None,
        n: int,
        optimizer: torch.optim.Optimizer,
    ) -> bool:
        stop = watch.end_epoch(epoch, metrics, loss_sum, n, module)
        if log is not None:
            row = {"train_loss": watch.train_loss} if n else {}
            row.update(metrics)
            row["lr"] = float(optimizer.param_groups[0]["lr"])
            log.write(epoch, row)
        return stop

    return on_epoch


def watch_callback(watch: EpochWatch) -> pl.Callback:
    """``watch`` as a Lightning callback, for modules the Trainer trains."""
    import pytorch_lightning as pl

    class WatchCallback(pl.Callback):
        # The epoch's training loss is summed on the device and read once per epoch, so
        # watching it for NaN costs no synchronisation per step.
        def __init__(self) -> None:
            self._loss_sum: torch.Tensor | None = None
            self._loss_n = 0

        def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            self._loss_sum, self._loss_n = None, 0

        def on_train_batch_end(
            self,
            trainer: pl.Trainer,
            module: pl.LightningModule,
            outputs: object,  # Lightning's STEP_OUTPUT: a tensor, a mapping or None
            batch: object,  # whatever the module's dataloader yields
            batch_idx: int,
        ) -> None:
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            if loss is None or not hasattr(loss, "detach"):
                return  # manual optimisation (e.g. a GAN) returns nothing to watch
            loss = loss.detach()
            self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
            self._loss_n += 1

        def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            metrics = {
                k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_")
            }
            epoch = trainer.current_epoch
            if watch.end_epoch(epoch, metrics, self._loss_sum, self._loss_n, module):
                trainer.should_stop = True

    return WatchCallback()
