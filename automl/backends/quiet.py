"""Quiet output: Lightning's banners and tips silenced, one accelerator line kept.

Lightning logs ``GPU available: ...``, ``TPU available: ...``, ``💡 Tip: ... litlogger`` (and on
a GPU ``LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES``) at INFO through its ``rank_zero`` loggers every
time a ``Trainer`` is built, and ``import pytorch_lightning`` sets its loggers back to INFO, so
a level set before the import is lost. ``quiet_lightning`` imports Lightning first, then raises
the level of every Lightning logger and filters those records out by content, so they stay out
of the console and of ``automl.log`` even if a level is reset later. What the user should know
instead, which device trials train on, is one line: ``accelerator_line``.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from automl.backends.base import TrainerSettings

__all__ = ["quiet_lightning", "accelerator_line", "NOISE"]

NOISE = (
    "GPU available",
    "TPU available",
    "HPU available",
    "IPU available",
    "💡 Tip",
    "litlogger",
    "litmodels",
    "LOCAL_RANK:",
    "Tensor Cores",
)
"""Text of the Lightning messages that never reach the user."""

_ROOTS = ("pytorch_lightning", "lightning_fabric", "lightning")


class _NoiseFilter(logging.Filter):
    """Drops records whose message contains one of ``NOISE``."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format itself is not ours to judge
            return True
        return not any(text in message for text in NOISE)


_FILTER = _NoiseFilter()


def quiet_lightning() -> None:
    """Silence Lightning's banners, tips and data-loader hints (idempotent; cheap to repeat).

    Call it from code that trains with Lightning, before building a ``Trainer``.
    """
    # torchmetrics (imported by Lightning) imports matplotlib when it is installed, which logs
    # "generated new fontManager" at INFO the first time on a machine.
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import pytorch_lightning  # noqa: F401  (its import resets its loggers to INFO: quiet after)

    names = set(_ROOTS) | {
        name for name in logging.root.manager.loggerDict if name.split(".")[0] in _ROOTS
    }
    for name in sorted(names):
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:  # Lightning's own stream handler, when it added one
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=".*TPU available but not used.*")
    # Batches come from in-memory tensors by design; these hints are about DataLoaders.
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=".*`srun` command is available.*")
    # A refit trains without validation data on purpose.
    warnings.filterwarnings("ignore", message=".*no `val_dataloader`. Skipping val loop.*")
    # Lightning's own internals on newer torch; nothing a user can act on.
    warnings.filterwarnings("ignore", message=".*treespec.*")


def threads_text(threads: int, trainer_cfg: TrainerSettings) -> str:
    """``2 threads per trial (2 CPUs, 1 trial at a time)``: what the header says of threads
    (``automl.core.cpus``)."""
    from automl.core.budget import startup_contention
    from automl.core.cpus import trials_at_once, usable_cpus

    def count(n: int, word: str) -> str:
        return f"{n} {word}" if n == 1 else f"{n} {word}s"

    per_trial = f"{count(threads, 'thread')} per trial"
    if int(getattr(trainer_cfg, "num_threads", 0) or 0):
        return f"{per_trial} (trainer.num_threads)"
    at_once = count(trials_at_once(), "trial")
    busy = startup_contention()
    return (
        f"{per_trial} ({count(usable_cpus(), 'CPU')}, {at_once} at a time, machine busy "
        f"x{busy:.1f})"
    )


def accelerator_line(trainer_cfg: TrainerSettings) -> str:
    """One line saying where trials train, as Lightning will choose from ``trainer.*``.

    ``accelerator=auto`` takes a CUDA GPU when there is one, else Apple's MPS, else the CPU.

    Args:
        trainer_cfg: ``TrainerConfig`` (or an equivalent ``DictConfig``).
    """
    import torch

    from automl.core.cpus import trial_threads

    accelerator = str(trainer_cfg.accelerator)
    devices = int(getattr(trainer_cfg, "devices", 1) or 1)
    precision = str(getattr(trainer_cfg, "precision", "32-true"))
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    setting = f"trainer.accelerator={accelerator}"
    if accelerator in ("auto", "gpu", "cuda") and cuda:
        count = torch.cuda.device_count()
        name = torch.cuda.get_device_name(0)
        used = f"{devices} of {count}" if count > 1 else "1"
        return f"trials train on GPU ({name}, {used} device; precision {precision}; {setting})"
    if accelerator in ("auto", "gpu", "mps") and mps:
        return f"trials train on Apple MPS (precision {precision}; {setting})"
    if accelerator in ("auto", "cpu"):
        why = "no GPU found, " if accelerator == "auto" else ""
        threads = trial_threads(int(getattr(trainer_cfg, "num_threads", 0) or 0))
        return (
            f"trials train on CPU ({why}{threads_text(threads, trainer_cfg)}; precision "
            f"{precision}; {setting})"
        )
    return f"trials train on {accelerator} ({devices} device; precision {precision}; {setting})"
