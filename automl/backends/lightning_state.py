"""A Lightning fit's checkpoints: the lean loop's state, and the Trainer's own checkpoint.

Both keep what an uninterrupted fit would go on with: the module's weights, the optimizer
(and, under the Trainer, the schedulers and loops: Lightning's ``save_checkpoint``), every
random stream the next epoch draws from (torch's, CUDA's, numpy's, Python's, the batch
order's and the augmentation's generators), the best epoch's weights, the reports already
sent and the ``metrics.csv`` rows. Tensors are written with ``torch.save`` and read back with
``weights_only=True``; the rest is plain values in the checkpoint's ``meta.json``.

The lean loop saves after an epoch's ``metrics.csv`` row; the Trainer at the end of the
training epoch (after its validation and its row), through a callback placed last.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from automl.backends.checkpoint import TrialCheckpoint
from automl.backends.epoch_watch import EpochWatch
from automl.backends.trial_log import MetricsCSV
from automl.core.errors import reason

if TYPE_CHECKING:
    import pytorch_lightning as pl
    from pytorch_lightning import LightningModule

    from automl.backends.lightning_loop import EpochEnd
    from automl.backends.supervised import TensorBatches

__all__ = ["LeanState", "trainer_state", "STATE_FILE", "TRAINER_FILE"]

STATE_FILE = "state.pt"
TRAINER_FILE = "trainer.ckpt"


def _generators(batches: TensorBatches) -> list[torch.Generator]:
    """The batches' own generators: the order's, and the augmentation's (if any)."""
    found = [getattr(batches, "generator", None), getattr(batches.transform, "generator", None)]
    return [g for g in found if isinstance(g, torch.Generator)]


def _rng(batches: TensorBatches) -> dict[str, Any]:
    """Every random stream the next epoch draws from, as tensors and plain values."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [str(name), torch.from_numpy(np.asarray(keys, np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
        "generators": [g.get_state() for g in _generators(batches)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng(state: dict[str, Any], batches: TensorBatches) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    for generator, saved in zip(_generators(batches), state["generators"], strict=True):
        generator.set_state(saved)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _cpu(tensors: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if tensors is None else {k: v.detach().cpu() for k, v in tensors.items()}


def _load(path: Path) -> dict[str, Any]:
    # weights_only: tensors and plain values only, never code from the file.
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path.name} holds no state")
    return state


def _same_tensors(saved: dict[str, Any], current: dict[str, Any], what: str) -> None:
    """Refuse a state whose tensors do not fit the module (before anything is changed)."""
    if set(saved) != set(current):
        raise ValueError(f"the {what} has other tensors than this model")
    for key, value in current.items():
        if tuple(saved[key].shape) != tuple(value.shape):
            raise ValueError(f"the {what}'s {key} has shape {tuple(saved[key].shape)}")


def _values(watch: EpochWatch, log: MetricsCSV | None) -> dict[str, Any]:
    return {"watch": watch.values(), "rows": list(log.rows) if log is not None else []}


class LeanState:
    """The lean loop's checkpoints for one fit: ``start`` restores, ``wrap`` saves.

    Args:
        checkpoint: The trial's checkpointing.
        module: The module being trained.
        batches: Its training batches.
        watch: The fit's watch.
        log: The trial's ``metrics.csv`` writer, if any.
        max_epochs: The fit's length (its last epoch needs no checkpoint).
    """

    def __init__(
        self,
        checkpoint: TrialCheckpoint,
        module: LightningModule,
        batches: TensorBatches,
        watch: EpochWatch,
        log: MetricsCSV | None,
        max_epochs: int,
    ) -> None:
        self.checkpoint, self.module, self.batches = checkpoint, module, batches
        self.watch, self.log, self.max_epochs = watch, log, max_epochs

    def start(self, optimizer: torch.optim.Optimizer) -> int:
        """Restore the source's state (if the lean loop wrote it); the first epoch to train."""
        self.checkpoint.begin(f"lean:{type(self.module).__qualname__}")
        found = self.checkpoint.restore("lean", "the lean loop")
        if found is None:
            return 0
        folder, saved = found
        try:
            state = _load(folder / STATE_FILE)
            _same_tensors(state["model"], self.module.state_dict(), "checkpoint's model")
            if len(state["optimizer"]["param_groups"]) != len(optimizer.param_groups):
                raise ValueError("the checkpoint's optimizer has other parameter groups")
        except Exception as exc:  # unreadable, or another model: start over
            self.checkpoint.refused(reason(exc))
            return 0
        self.module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        _set_rng(state["rng"], self.batches)
        self.watch.restore(saved.values["watch"], state.get("best"))
        if self.log is not None:
            self.log.restore(saved.values["rows"])
        self.checkpoint.resumed_at(saved.step, self.watch.reports)
        return saved.step + 1

    def wrap(self, on_epoch: EpochEnd) -> EpochEnd:
        """``on_epoch`` followed, when the fit goes on and a checkpoint is due, by one."""

        def end(
            epoch: int,
            metrics: dict[str, float],
            loss_sum: torch.Tensor | None,
            n: int,
            optimizer: torch.optim.Optimizer,
        ) -> bool:
            stop = on_epoch(epoch, metrics, loss_sum, n, optimizer)
            if not stop and epoch + 1 < self.max_epochs and self.checkpoint.due():
                self.save(epoch, optimizer)
            return stop

        return end

    def save(self, epoch: int, optimizer: torch.optim.Optimizer) -> None:
        """Write the state after ``epoch``."""
        state = {
            "model": _cpu(self.module.state_dict()),
            "optimizer": optimizer.state_dict(),
            "rng": _rng(self.batches),
            "best": _cpu(self.watch.best_state),
        }

        def write(folder: Path) -> None:
            torch.save(state, folder / STATE_FILE)

        self.checkpoint.save("lean", epoch, _values(self.watch, self.log), write)


def trainer_state(
    checkpoint: TrialCheckpoint,
    module: LightningModule,
    batches: TensorBatches,
    watch: EpochWatch,
    log: MetricsCSV | None,
) -> tuple[pl.Callback, str | None]:
    """The Trainer's checkpoint callback, and the checkpoint to continue from (or ``None``).

    Lightning writes and reads its own checkpoint (``Trainer.save_checkpoint``; the fit is
    given ``ckpt_path`` and ``weights_only=True``); the callback adds the random streams, the
    best weights and the watch, and leaves the module's hyperparameters out (arbitrary
    objects, which a weights-only load refuses; a resumed fit does not read them). Place it
    after the callbacks that write ``metrics.csv``.
    """
    import pytorch_lightning as pl

    checkpoint.begin(f"trainer:{type(module).__qualname__}")
    restored: dict[str, Any] | None = None
    ckpt_path: str | None = None
    found = checkpoint.restore("trainer", "Lightning's Trainer")
    if found is not None:
        folder, saved = found
        try:
            restored = _load(folder / TRAINER_FILE)["automl"]
            ckpt_path = str(folder / TRAINER_FILE)
        except Exception as exc:  # unreadable: start over
            checkpoint.refused(reason(exc))
        else:
            restored["values"] = saved.values
            restored["step"] = saved.step

    class TrainerCheckpoint(pl.Callback):
        def on_train_start(self, trainer: pl.Trainer, module: LightningModule) -> None:
            # After Lightning restored the weights, optimizers and loops from ckpt_path,
            # before the first batch is drawn.
            if restored is None:
                return
            _set_rng(restored["rng"], batches)
            watch.restore(restored["values"]["watch"], restored.get("best"))
            if log is not None:
                log.restore(restored["values"]["rows"])
            checkpoint.resumed_at(restored["step"], watch.reports)

        def on_train_epoch_end(self, trainer: pl.Trainer, module: LightningModule) -> None:
            if trainer.should_stop or trainer.current_epoch + 1 >= (trainer.max_epochs or 0):
                return
            if not checkpoint.due():
                return

            def write(folder: Path) -> None:
                trainer.save_checkpoint(folder / TRAINER_FILE)

            checkpoint.save("trainer", trainer.current_epoch, _values(watch, log), write)

        def on_save_checkpoint(
            self, trainer: pl.Trainer, module: LightningModule, ckpt: dict[str, Any]
        ) -> None:
            for key in ("hyper_parameters", "hparams_name", "datamodule_hyper_parameters"):
                ckpt.pop(key, None)
            ckpt["automl"] = {"rng": _rng(batches), "best": _cpu(watch.best_state)}

    return TrainerCheckpoint(), ckpt_path
