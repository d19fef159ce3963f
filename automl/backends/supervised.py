"""Lightning building blocks for torch model plugins: a supervised module and in-memory batches.

Importing this module imports torch and Lightning; only model builders and the trainer do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from automl.core.metrics import task_metrics
from automl.core.plugin import DataSpec

__all__ = [
    "SupervisedModule",
    "MetricFn",
    "TensorBatches",
    "BatchAugment",
    "make_augment",
    "make_optimizer",
]

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


def make_optimizer(
    params: Any, name: str, lr: float, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Build a torch optimizer by name (``adam``, ``adamw``, ``sgd`` with momentum, ``rmsprop``)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, weight_decay=weight_decay, momentum=0.9, nesterov=True
        )
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")


class BatchAugment:
    """Training-time image augmentation of a whole batch at once, with torch ops on its device.

    Random crop: each image is zero-padded by ``crop_padding`` pixels on every side and cropped
    back to its size at a random offset (one gather for the batch). Flip: half of the images,
    chosen at random, are mirrored left-right. Inputs that are not ``N x C x H x W`` pass
    through unchanged.

    Args:
        flip: Mirror a random half of the images.
        crop_padding: Padding of the random crop; 0 disables it.
        seed: Seed of the augmentation's own generator (reproducible per trial).
    """

    def __init__(self, flip: bool = True, crop_padding: int = 0, seed: int = 0) -> None:
        self.flip = flip
        self.crop_padding = max(0, int(crop_padding))
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            return x
        n, _, h, w = x.shape
        device = x.device
        if self.crop_padding:
            p = self.crop_padding
            padded = F.pad(x, (p, p, p, p)).permute(0, 2, 3, 1)  # N x H' x W' x C
            dy = torch.randint(0, 2 * p + 1, (n, 1), generator=self.generator).to(device)
            dx = torch.randint(0, 2 * p + 1, (n, 1), generator=self.generator).to(device)
            rows = dy + torch.arange(h, device=device)  # N x H
            cols = dx + torch.arange(w, device=device)  # N x W
            batch = torch.arange(n, device=device)[:, None, None]
            x = padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
        if self.flip:
            mirror = (torch.rand(n, generator=self.generator) < 0.5).to(device)
            x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
        return x.contiguous()


def make_augment(settings: Mapping[str, Any], seed: int = 0) -> BatchAugment | None:
    """A ``BatchAugment`` from ``Dataset.augment`` settings; ``None`` when there are none."""
    if not settings:
        return None
    flip, pad = bool(settings.get("flip", False)), int(settings.get("crop_padding", 0))
    return BatchAugment(flip=flip, crop_padding=pad, seed=seed) if flip or pad else None


class TensorBatches:
    """Mini-batches sliced straight from tensors already in memory (or on the GPU).

    A ``DataLoader`` collates sample by sample; for data that fits in memory slicing a
    permuted index is several times cheaper per step, and no worker processes are needed.

    Args:
        x: Inputs, first axis samples.
        y: Targets.
        batch_size: Samples per batch.
        shuffle: Draw a new permutation every epoch.
        seed: Seed of the permutation.
        transform: Applied to each input batch as it is yielded (training augmentation);
            the stored tensors are never changed.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.x, self.y = x, y
        self.batch_size = max(1, int(batch_size))
        self.shuffle = shuffle
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.transform = transform

    def __len__(self) -> int:
        return (len(self.y) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        for xb, yb in self._batches():
            yield (self.transform(xb) if self.transform is not None else xb), yb

    def _batches(self):
        n = len(self.y)
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.x.device)
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                yield self.x[idx], self.y[idx]
        else:
            for start in range(0, n, self.batch_size):
                yield (
                    self.x[start : start + self.batch_size],
                    self.y[start : start + self.batch_size],
                )


MetricFn = Callable[[np.ndarray, np.ndarray], float]
"""An extra metric of ``SupervisedModule``: ``(preds, targets) -> float`` over one split."""

_METRIC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_BUILTIN_METRICS = ("acc", "f1", "precision", "recall", "rmse", "mae", "r2", "loss")


def _checked_metrics(task: str, metrics: Mapping[str, MetricFn]) -> dict[str, MetricFn]:
    """``metrics`` as a dict, each name usable as ``val_<name>`` and not a built-in's."""
    out = dict(metrics)
    for name, fn in out.items():
        if not isinstance(name, str) or not _METRIC_NAME.fullmatch(name):
            raise ValueError(
                f"SupervisedModule metrics: {name!r} is not a usable metric name (letters, "
                "digits and '_', starting with a letter); it is logged as val_<name>"
            )
        if name in _BUILTIN_METRICS:
            raise ValueError(
                f"SupervisedModule metrics: {name!r} is a built-in metric "
                f"({', '.join(_BUILTIN_METRICS)}); give yours another name"
            )
        if not callable(fn):
            raise ValueError(
                f"SupervisedModule metrics: {name!r} is {type(fn).__name__}, not a function "
                "(preds, targets) -> float"
            )
    return out


def _target_stat(values: tuple[float, ...] | None, default: float) -> torch.Tensor:
    # One target today (n_targets=1); a scalar broadcasts over the flattened output.
    return torch.tensor(float(values[0]) if values else default, dtype=torch.float32)


def _unscaled_if_missing(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any
) -> None:
    """Weights saved before targets were standardized were trained on raw targets: load them
    with the identity scaling instead of failing on the missing buffers."""
    for name, value in (("target_mean", 0.0), ("target_std", 1.0)):
        state_dict.setdefault(f"{prefix}{name}", torch.tensor(value))


class SupervisedModule(pl.LightningModule):
    """Classification or regression around any ``nn.Module`` that maps inputs to outputs.

    The network returns logits (``n_classes`` columns) for classification and one column for
    regression. Metrics are computed once per validation epoch from all predictions and
    logged as ``val_<metric>`` (``val_acc``, ``val_f1``, ``val_rmse``, ...), so logging costs
    nothing per step.

    Regression targets are standardized with the training split's statistics
    (``spec.target_mean``/``target_std``): the network learns ``(y - mean) / std`` (a unit
    scale whatever the target's units, so default learning rates and initializations fit), and
    ``forward`` maps its output back, so predictions, metrics and ``val_loss`` are in the
    target's original units. The statistics are buffers, saved and loaded with the weights.

    Extra metrics need no subclass: ``metrics={"brier": fn}`` computes ``fn(preds, targets)``
    once per validation epoch (and on the test split) and logs it as ``val_brier``
    (``test_brier``), usable in ``sweep.objectives``; ``preds`` are class ids
    (classification) or values in the target's units (regression), ``targets`` the true ones,
    both numpy arrays over the whole split. A model built this way still trains in automl's
    lean loop (docs/plugins.md).

    The validation state is kept under name-mangled attributes (``self.__outputs``), so a
    subclass may use any name of its own (``self._targets``) without touching it.

    Args:
        net: The network.
        spec: The data description.
        lr: Learning rate.
        weight_decay: L2 penalty.
        optimizer: One of ``adam``, ``adamw``, ``sgd``, ``rmsprop``.
        metrics: Extra validation metrics by name: ``(preds, targets) -> float``.

    Raises:
        ValueError: A metric name that is not an identifier or that a built-in metric of the
            task already uses.
    """

    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        spec: DataSpec,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        metrics: Mapping[str, MetricFn] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.task = spec.task
        self.lr, self.weight_decay, self.optimizer_name = lr, weight_decay, optimizer
        self.loss_fn = nn.CrossEntropyLoss() if self.task == "classification" else nn.MSELoss()
        self.extra_metrics: dict[str, MetricFn] = _checked_metrics(self.task, metrics or {})
        # Name-mangled (``_SupervisedModule__outputs``): a subclass's own ``_outputs`` or
        # ``_targets`` is another attribute, never this epoch's buffer.
        self.__outputs: list[torch.Tensor] = []
        self.__targets: list[torch.Tensor] = []
        if self.task != "classification":
            self.register_buffer("target_mean", _target_stat(spec.target_mean, 0.0))
            self.register_buffer("target_std", _target_stat(spec.target_std, 1.0))
            self.register_load_state_dict_pre_hook(_unscaled_if_missing)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.task == "classification":
            return out
        return out.reshape(-1) * self.target_std + self.target_mean

    def _scaled(self, values: torch.Tensor) -> torch.Tensor:
        """Regression values in the standardized units the network learns in."""
        return (values - self.target_mean) / self.target_std

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        if self.task == "classification":
            return self.loss_fn(self(x), y)
        return self.loss_fn(self._scaled(self(x)), self._scaled(y))

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.__outputs.append(self(x).detach())
        self.__targets.append(y)

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self._validation_metrics(), prog_bar=False)

    def _validation_metrics(self) -> dict[str, float]:
        """The validation epoch's metrics (``val_acc``, ``val_loss``, ...) from the outputs
        ``validation_step`` collected, which are cleared. The backend's lean loop reads them
        here; under Lightning's Trainer they are logged."""
        out, y = torch.cat(self.__outputs), torch.cat(self.__targets)
        self.__outputs.clear()
        self.__targets.clear()
        loss = float(self.loss_fn(out, y))
        pred = out.argmax(dim=1) if self.task == "classification" else out
        truth, predicted = y.cpu().numpy(), pred.float().cpu().numpy()
        if self.task == "classification":
            predicted = predicted.astype(np.int64)
        metrics = task_metrics(self.task, truth, predicted)
        metrics["loss"] = loss
        for name, fn in self.extra_metrics.items():
            metrics[name] = float(fn(predicted, truth))
        return {f"val_{k}": float(v) for k, v in metrics.items()}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(self.parameters(), self.optimizer_name, self.lr, self.weight_decay)
