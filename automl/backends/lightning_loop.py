"""The lean loop: SupervisedModule models trained without Lightning's Trainer around each step.

Lightning's Trainer runs some thirty hooks, a closure, progress tracking and its logging
connector around every training step: on a small model about a fifth of a trial's time
(``benchmarks/trial_overhead.py``, docs/benchmarks.md). For models whose training behaviour
automl itself defines, this loop runs the same steps directly, in the Trainer's order:

- per batch: ``training_step``, ``optimizer.zero_grad()``, ``loss.backward()``,
  ``optimizer.step()``;
- per epoch: every submodule's train/eval mode captured, ``eval()``, ``validation_step`` per
  batch and the epoch's metrics under ``torch.inference_mode``, the modes restored;
- at the end the module is moved to the CPU, as the Trainer's teardown does.

So one seed trains the same weights on either loop and gives the same metrics (as float32,
the way Lightning logs them); a test compares the two.

What it trains is decided by allowlists, once per model: anything they do not name trains
under Lightning's Trainer, so a setting or an override added later is never silently ignored.

- Settings (``config_unsupported``, ``settings_unsupported``): only the ``trainer.*`` fields in
  ``LEAN_SETTINGS``, on one CPU, CUDA or MPS device (``LEAN_DEVICE_TYPES``) at ``32-true``
  precision (``LEAN_PRECISIONS``).
- Models (``unsupported``): instances of ``automl.lightning.SupervisedModule`` (automatic
  optimization, one optimizer, metrics computed once per validation epoch), or of subclasses
  that redefine none of LightningModule's hooks and methods except ``forward`` (and
  ``__init__``), and whose own code reads none of the state only the Trainer keeps
  (``TRAINER_STATE``: ``self.current_epoch``, ``self.log``, ``self.trainer``, ...): a
  ``forward`` that anneals by epoch or logs trains under the Trainer, which gives it both.

Everything else (custom LightningModules, manual optimization such as the GAN's, schedulers,
other precisions, several devices, a TensorBoard logger) trains under Lightning's Trainer.
"""

from __future__ import annotations

import dataclasses
import dis
import os
from collections.abc import Callable, Iterable, Iterator
from types import CodeType
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch

from automl.backends.supervised import SupervisedModule

if TYPE_CHECKING:
    from automl.backends.base import TrainerSettings

__all__ = [
    "LeanLoop",
    "EpochEnd",
    "LEAN_SETTINGS",
    "TRAINER_STATE",
    "config_unsupported",
    "settings_unsupported",
    "unsupported",
]

LEAN_PRECISIONS = ("32-true", "32")
LEAN_DEVICE_TYPES = ("cpu", "cuda", "mps")
LEAN_SETTINGS = frozenset(
    {
        "max_epochs",  # LeanLoop.fit's epochs
        "accelerator",  # the probe's device, checked by settings_unsupported
        "devices",  # one device: settings_unsupported
        "precision",  # 32-true: settings_unsupported
        "seed",  # seeded by the backend before the module is built
        "deterministic",  # LeanLoop._prepare, as the Trainer applies it
        "eval_batch_size",  # the backend's validation batches
        "num_threads",  # the backend, before building
        "logger",  # csv rows from epoch_watch.lean_epoch_end; tensorboard: LightningBackend
    }
)
"""The ``trainer.*`` settings the lean loop implements; any other trains under the Trainer."""

EpochEnd = Callable[[int, dict[str, float], torch.Tensor | None, int, torch.optim.Optimizer], bool]
"""``(epoch, val metrics, summed training loss or None, batches, optimizer) -> stop``."""


def config_unsupported(trainer_cfg: TrainerSettings) -> str | None:
    """The first ``trainer.*`` setting the lean loop does not implement (``LEAN_SETTINGS``),
    as a reason, or ``None``.

    Args:
        trainer_cfg: ``TrainerConfig`` (or an equivalent object).
    """
    if dataclasses.is_dataclass(trainer_cfg) and not isinstance(trainer_cfg, type):
        names = [f.name for f in dataclasses.fields(trainer_cfg)]
    else:
        names = [n for n in vars(trainer_cfg) if not n.startswith("_")]
    others = [n for n in names if n not in LEAN_SETTINGS]
    if others:
        return f"trainer.{others[0]} is not implemented by the lean loop"
    return None


def settings_unsupported(trainer: pl.Trainer) -> str | None:
    """Why the lean loop cannot honour the device, strategy and precision Lightning chose
    (``None``: it can).

    Args:
        trainer: A Trainer built from the settings (the backend's probe).
    """
    from pytorch_lightning.strategies import SingleDeviceStrategy

    strategy = trainer.strategy
    if type(strategy) is not SingleDeviceStrategy:
        return f"strategy {type(strategy).__name__}"
    if strategy.root_device.type not in LEAN_DEVICE_TYPES:
        return f"device {strategy.root_device}"
    if str(trainer.precision) not in LEAN_PRECISIONS:
        return f"precision {trainer.precision}"
    return None


def unsupported(module: pl.LightningModule) -> str | None:
    """Why the lean loop would not train ``module`` exactly as the Trainer does (``None``: it
    would). Decided from the module's class and attributes, before any training."""
    cls = type(module)
    if not isinstance(module, SupervisedModule):
        return f"{cls.__qualname__} is not a SupervisedModule"
    if not module.automatic_optimization:
        return "manual optimization"
    for klass in cls.__mro__[: cls.__mro__.index(SupervisedModule)]:
        redefined = sorted(n for n in vars(klass) if _lightning_name(n) and n != "forward")
        if redefined:
            return f"{klass.__qualname__} redefines {', '.join(redefined)}"
    patched = sorted(n for n in vars(module) if _lightning_name(n) and callable(vars(module)[n]))
    if patched:
        return f"instance attributes shadow {', '.join(patched)}"
    nested = [m for m in module.modules() if m is not module and isinstance(m, pl.LightningModule)]
    if nested:
        return f"nested LightningModule {type(nested[0]).__qualname__}"
    for klass in cls.__mro__[: cls.__mro__.index(SupervisedModule)]:
        for name, value in vars(klass).items():
            reads = sorted(_trainer_state_read(value))
            if reads:
                shown = ", ".join(f"self.{r}" for r in reads)
                return (
                    f"{klass.__qualname__}.{name} reads {shown}, which only Lightning's "
                    "Trainer keeps"
                )
    return None


def _trainer_state() -> frozenset[str]:
    """LightningModule's members whose code reads the Trainer (or Fabric) it is attached to:
    ``current_epoch``, ``global_step``, ``log``, ``log_dict``, ``trainer``, ``optimizers``,
    ... (read from Lightning's own code, so a new version's members are covered)."""
    names = {"trainer", "_trainer", "fabric", "_fabric"}
    for klass in pl.LightningModule.__mro__:
        if klass in (torch.nn.Module, object):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("__") and _reads_names(value) & names:
                names.add(name)
    return frozenset(names)


def _codes(value: object) -> Iterator[CodeType]:
    """The code objects of a function, property or static/class method, nested ones too."""
    funcs = [value.fget, value.fset] if isinstance(value, property) else [value]
    for func in funcs:
        func = getattr(func, "__func__", func)
        code = getattr(func, "__code__", None)
        stack = [code] if isinstance(code, CodeType) else []
        while stack:
            code = stack.pop()
            yield code
            stack += [c for c in code.co_consts if isinstance(c, CodeType)]


def _reads_names(value: object) -> set[str]:
    return {name for code in _codes(value) for name in code.co_names}


def _trainer_state_read(value: object) -> set[str]:
    """The ``TRAINER_STATE`` attributes a function reads from its first argument (``self``)."""
    found: set[str] = set()
    for code in _codes(value):
        if not code.co_varnames or not code.co_argcount:
            continue
        me = code.co_varnames[0]
        previous = None
        for ins in dis.get_instructions(code):
            if (
                previous is not None
                and previous.opname in ("LOAD_FAST", "LOAD_DEREF", "LOAD_CLOSURE")
                and previous.argval == me
                and ins.opname in ("LOAD_ATTR", "LOAD_METHOD")
                and ins.argval in TRAINER_STATE
            ):
                found.add(str(ins.argval))
            previous = ins
    return found


TRAINER_STATE = _trainer_state()
"""What a subclass's own code must not read to train in the lean loop (see ``unsupported``)."""


def _lightning_name(name: str) -> bool:
    """A hook or method LightningModule defines (dunders such as ``__init__`` aside). A
    subclass may still redefine ``forward``: it runs inside SupervisedModule's own steps."""
    return not name.startswith("__") and hasattr(pl.LightningModule, name)


def _logged(value: float) -> float:
    # Lightning stores a logged float as a tensor of the default dtype (float32); reading it
    # back here the same way keeps both loops' values, and so their best epochs, identical.
    return float(torch.tensor(value))


class LeanLoop:
    """Trains, validates and evaluates supported modules on one device.

    Args:
        device: Where the module and its batches live (``cpu``, ``cuda:0``, ...).
        deterministic: ``trainer.deterministic``, applied to torch as the Trainer applies it.
    """

    def __init__(self, device: str, deterministic: bool) -> None:
        self.device = torch.device(device)
        self.deterministic = bool(deterministic)

    def _prepare(self, module: SupervisedModule) -> torch.optim.Optimizer:
        # What the Trainer does before the first step: torch's flags, the module on its
        # device, then configure_optimizers (SupervisedModule's returns one optimizer).
        if self.deterministic:
            torch.backends.cudnn.benchmark = False
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
        torch.use_deterministic_algorithms(self.deterministic)
        module.to(self.device)
        optimizer = module.configure_optimizers()
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"configure_optimizers returned {type(optimizer).__name__}, not an optimizer"
            )
        return optimizer

    @staticmethod
    def _epoch(
        module: SupervisedModule,
        optimizer: torch.optim.Optimizer,
        batches: Iterable[Any],
        max_steps: int | None = None,
    ) -> tuple[torch.Tensor | None, int]:
        """One training epoch; returns the summed loss (on its device, unread) and the count."""
        total: torch.Tensor | None = None
        n = 0
        for batch_idx, batch in enumerate(batches):
            loss = module.training_step(batch, batch_idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss = loss.detach()
            total = loss if total is None else total + loss
            n += 1
            if max_steps is not None and n >= max_steps:
                break
        return total, n

    def validate(self, module: SupervisedModule, batches: Iterable[Any]) -> dict[str, float]:
        """The module's validation metrics over ``batches`` (``val_acc``, ``val_loss``, ...)."""
        modes = {name: m.training for name, m in module.named_modules()}
        module.eval()
        try:
            with torch.inference_mode():
                for batch_idx, batch in enumerate(batches):
                    module.validation_step(batch, batch_idx)
                metrics = module._validation_metrics()
        finally:
            for name, m in module.named_modules():
                m.training = modes.get(name, m.training)
        return {k: _logged(v) for k, v in metrics.items()}

    def fit(
        self,
        module: SupervisedModule,
        batches: Iterable[Any],
        val: Iterable[Any],
        max_epochs: int,
        on_epoch: EpochEnd,
        start: Callable[[torch.optim.Optimizer], int] | None = None,
    ) -> None:
        """Train up to ``max_epochs``, validating after each; stop when ``on_epoch`` says so.

        Args:
            module: The module.
            batches: Training batches (a new order each epoch).
            val: Validation batches.
            max_epochs: Epochs in all.
            on_epoch: Called after each epoch's validation; ``True`` stops.
            start: Called once the module is on its device and its optimizer built; restores
                a checkpoint's state and returns the first epoch to train (0: from the start).
        """
        optimizer = self._prepare(module)
        try:
            first = start(optimizer) if start is not None else 0
            for epoch in range(first, max_epochs):
                total, n = self._epoch(module, optimizer, batches)
                if on_epoch(epoch, self.validate(module, val), total, n, optimizer):
                    break
        finally:
            module.cpu()

    def train(
        self,
        module: SupervisedModule,
        batches: Iterable[Any],
        epochs: int,
        steps_per_epoch: int | None = None,
    ) -> None:
        """Train ``epochs`` epochs (each at most ``steps_per_epoch`` steps), no validation."""
        optimizer = self._prepare(module)
        try:
            for _ in range(epochs):
                self._epoch(module, optimizer, batches, steps_per_epoch)
        finally:
            module.cpu()

    def evaluate(self, module: SupervisedModule, batches: Iterable[Any]) -> dict[str, float]:
        """``validate`` on the loop's device, the module moved back to the CPU after."""
        module.to(self.device)
        try:
            return self.validate(module, batches)
        finally:
            module.cpu()
