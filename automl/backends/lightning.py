"""The Lightning backend: plugins hand over a LightningModule; automl trains it.

Data that fits in memory is turned into tensors once per process and device and sliced into
batches (``automl.backends.supervised.TensorBatches``); no DataLoader, no worker processes. After
every
validation epoch ``EpochWatch`` reads the objective metric, keeps the best weights in memory,
stops a diverged fit and reports to the study.

Which loop trains a model is decided once per model (``LightningBackend.loop_for``):
SupervisedModule models train in the lean loop (``automl.backends.lightning_loop``: the same
steps in the same order, without the Trainer's per-step machinery); every other module, and
settings the lean loop does not implement, train under a quiet ``pl.Trainer``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from automl.backends.base import FitResult, Goal, TrainerSettings
from automl.backends.checkpoint import TrialCheckpoint
from automl.backends.epoch_watch import EpochWatch, lean_epoch_end, watch_callback
from automl.core.errors import ExportError, OutOfTime, PluginError, UserError, reason
from automl.core.plugin import TASK_METRIC_NAMES, ModelPlugin, Report, resolve
from automl.core.records import Unit
from automl.data import Dataset

if TYPE_CHECKING:
    import pytorch_lightning as pl
    from pytorch_lightning import LightningModule

    from automl.backends.supervised import SupervisedModule, TensorBatches
    from automl.core.plugin import DataSpec

__all__ = ["LightningBackend", "MODEL_FILE"]

MODEL_FILE = "model.pt"
PREFLIGHT_ROWS = 32
_log = logging.getLogger("automl.backends")
# The settings that decide the device and the strategy; probed once per process.
_PROBED = ("accelerator", "devices", "precision", "deterministic")
_PROBES: dict[tuple[str, ...], tuple[str, str | None]] = {}


class LightningBackend:
    """Backend for ``kind="lightning"`` plugins.

    Creating it builds one Trainer from the settings, so a setting this machine cannot
    honour is one error before any trial, and the device Lightning chose (and whether the
    lean loop can honour the settings) is read once.

    Args:
        trainer_cfg: ``TrainerConfig`` (or an equivalent object).
        loop: ``auto`` trains supported models in the lean loop and the rest under the
            Trainer; ``trainer`` trains every model under the Trainer.

    Raises:
        UserError: Lightning rejected the settings.
    """

    kind = "lightning"
    unit: Unit = "epoch"
    expensive = True  # torch training: a study's most costly trials

    def __init__(
        self, trainer_cfg: TrainerSettings, loop: Literal["auto", "trainer"] = "auto"
    ) -> None:
        from automl.backends.lightning_loop import LeanLoop, config_unsupported
        from automl.backends.trial_log import check_logger

        self.cfg = trainer_cfg
        check_logger(self._logger_name())
        # The device Lightning will train on (data tensors are placed there once), and why
        # the lean loop cannot honour the settings, if it cannot.
        self.device, lean_settings = self._probe()
        self._lean = LeanLoop(self.device, bool(trainer_cfg.deterministic))
        lean_settings = config_unsupported(trainer_cfg) or lean_settings
        self._lean_settings = lean_settings if loop == "auto" else "the Trainer was asked for"

    def _probe(self) -> tuple[str, str | None]:
        """A Trainer built from the settings, read once per process and settings (building
        one costs tens of milliseconds, and ``train.fit`` creates a backend per call)."""
        from automl.backends.lightning_loop import settings_unsupported

        cfg = self.cfg
        key = tuple(repr(getattr(cfg, n)) for n in _PROBED)
        if key not in _PROBES:
            try:
                trainer = self._trainer([])
            except Exception as exc:  # MisconfigurationException, a missing package, ...
                raise UserError(
                    f"trainer.accelerator={cfg.accelerator} trainer.devices={cfg.devices} "
                    f"trainer.precision={cfg.precision}: Lightning cannot train with these "
                    f"here ({reason(exc)}); trainer.accelerator=auto uses a GPU when there is "
                    "one, else the CPU"
                ) from exc
            _PROBES[key] = (str(trainer.strategy.root_device), settings_unsupported(trainer))
        return _PROBES[key]

    def loop_for(self, module: LightningModule, log_dir: str | None = None) -> str | None:
        """Which loop trains ``module``: ``None`` for the lean loop, else why the Trainer.

        Args:
            module: The freshly built LightningModule.
            log_dir: The trial's log directory, if any (a TensorBoard logger needs the
                Trainer).
        """
        from automl.backends.lightning_loop import unsupported

        why = self._lean_settings
        if why is None and log_dir is not None and self._logger_name() == "tensorboard":
            why = "trainer.logger=tensorboard"
        why = why or unsupported(module)
        _log.debug("%s trains %s", type(module).__qualname__, f"under the Trainer ({why})"
                   if why else "in the lean loop")  # fmt: skip
        return why

    def _logger_name(self) -> str:
        return str(getattr(self.cfg, "logger", "csv"))

    # -- pieces --------------------------------------------------------------------------

    def describe(self) -> str:
        """Where trials train, in one line (the header shows it)."""
        from automl.backends.quiet import accelerator_line

        return accelerator_line(self.cfg)

    def _trainer(
        self, callbacks: list, max_epochs: int | None = None, **overrides: Any
    ) -> pl.Trainer:
        import pytorch_lightning as pl

        from automl.backends.quiet import quiet_lightning

        quiet_lightning()
        cfg = self.cfg
        settings: dict[str, Any] = {
            "max_epochs": max_epochs if max_epochs is not None else cfg.max_epochs,
            "accelerator": cfg.accelerator,
            "devices": cfg.devices,
            "precision": cfg.precision,
            "deterministic": cfg.deterministic,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "num_sanity_val_steps": 0,
            "callbacks": callbacks,
        }
        settings.update(overrides)
        return pl.Trainer(**settings)

    def _tensors(self, dataset: Dataset, split: str) -> tuple[Any, Any]:
        """Tensors of a split, converted once per process and kept on the device."""
        import torch

        key = f"tensors:{split}:{self.device}"
        if key not in dataset.cache:
            part = getattr(dataset, split)
            dataset.cache[key] = (
                torch.as_tensor(part.x, dtype=torch.float32).to(self.device),
                torch.as_tensor(part.y).to(self.device),
            )
        return dataset.cache[key]

    def _start(self, plugin: ModelPlugin, cfg: object, dataset: Dataset, seed: int) -> tuple:
        """A seeded module and its training batches: what a fit and a refit start from."""
        import pytorch_lightning as pl
        import torch

        from automl.backends.supervised import TensorBatches, make_augment
        from automl.core.cpus import trial_threads

        # The CPUs this process may use, shared by the trials running at once
        # (automl.core.cpus); trainer.num_threads overrides.
        torch.set_num_threads(trial_threads(int(self.cfg.num_threads or 0)))
        pl.seed_everything(seed, workers=False, verbose=False)
        module = self._build(plugin, cfg, dataset)
        batch_size = plugin.batch_size_of(cfg)
        # Augmentation (if the data asks for it) touches training batches only, never val/test.
        augment = make_augment(dataset.augment, seed)
        x, y = self._tensors(dataset, "train")
        batches = TensorBatches(x, y, batch_size, shuffle=True, seed=seed, transform=augment)
        return module, batches

    @staticmethod
    def _build(
        plugin: ModelPlugin, cfg: object, dataset_or_spec: Dataset | DataSpec
    ) -> LightningModule:
        import pytorch_lightning as pl

        spec = getattr(dataset_or_spec, "spec", dataset_or_spec)
        module = resolve(plugin.build)(cfg, spec)
        if not isinstance(module, pl.LightningModule):
            raise PluginError(
                f"model '{plugin.name}': build returned {type(module).__module__}."
                f"{type(module).__qualname__}, not a pytorch_lightning.LightningModule "
                "(kind='lightning'); wrap a network in automl.lightning.SupervisedModule(net, "
                "spec), or declare kind='estimator'"
            )
        return module

    # -- the protocol --------------------------------------------------------------------

    def device_for(self, plugin: ModelPlugin, cfg: object, spec: DataSpec) -> str:
        """Where a model trains: the device Lightning chose for the trainer settings."""
        return self.device

    def reload_differs(self, model: LightningModule, reloaded: LightningModule) -> str | None:
        """The first weight that differs between ``model`` and its reload, in words."""
        trained, loaded = model.state_dict(), reloaded.state_dict()
        if list(trained) != list(loaded):
            return f"reloaded state has {list(loaded)[:5]}..., trained {list(trained)[:5]}..."
        for key, value in trained.items():
            if not np.array_equal(value.cpu().numpy(), loaded[key].cpu().numpy()):
                return f"weight {key} differs after reload"
        return None

    def check_built(self, model: object) -> str | None:
        """Why ``model`` is not what a Lightning builder must return, or ``None``."""
        import pytorch_lightning as pl

        if isinstance(model, pl.LightningModule):
            return None
        hint = ""
        if model is not None and any(c.__name__ == "Module" for c in type(model).__mro__):
            hint = " (a plain torch.nn.Module: wrap it, e.g. automl.lightning.SupervisedModule)"
        return f"{hint}; a kind='lightning' builder must return a pytorch_lightning.LightningModule"

    def preflight(
        self, plugin: ModelPlugin, cfg: object, dataset: Dataset
    ) -> tuple[str, ...] | None:
        """Build ``cfg`` and run one training step on a few rows (no validation), in the loop
        its trials will train in; return the metrics the module reports, when known."""
        import torch

        from automl.backends.lightning_loop import unsupported
        from automl.backends.supervised import TensorBatches

        module = self._build(plugin, cfg, dataset)
        x, y = self._tensors(dataset, "train")
        n = min(PREFLIGHT_ROWS, len(y))
        batches = TensorBatches(x[:n], y[:n], n)
        with torch.random.fork_rng(devices=[]):  # leave the trials' random streams untouched
            if self.loop_for(module) is None:  # None: a SupervisedModule the lean loop trains
                lean = cast("SupervisedModule", module)
                self._lean.train(lean, batches, epochs=1, steps_per_epoch=1)
            else:
                trainer = self._trainer([], max_epochs=1, max_steps=1, limit_val_batches=0)
                trainer.fit(module, train_dataloaders=batches)
        if unsupported(module) is not None:
            return None  # its own validation code logs what it logs
        # A SupervisedModule as automl wrote it: the task's metrics, the loss and its extras.
        task_names = TASK_METRIC_NAMES.get(dataset.spec.task, ())
        return (*task_names, "loss", *cast("SupervisedModule", module).extra_metrics)

    def fit(
        self,
        plugin: ModelPlugin,
        cfg: object,
        dataset: Dataset,
        goal: Goal,
        *,
        report: Report | None,
        seed: int,
        log_dir: str | None = None,
        deadline: float | None = None,
        checkpoint: TrialCheckpoint | None = None,
    ) -> FitResult:
        start = time.perf_counter()
        module, batches = self._start(plugin, cfg, dataset, seed)
        max_epochs = int(self.cfg.max_epochs)
        watch = EpochWatch(goal, report, deadline, max_epochs)
        try:
            self._fit(module, batches, dataset, goal, watch, cfg, log_dir, checkpoint)
        except OutOfTime:
            # Cut mid-epoch at the budget: the best epoch so far is a result worth keeping.
            if watch.best_state is None:
                raise
            watch.stopped = f"during epoch {watch.epochs + 1} of {self.cfg.max_epochs}"
        watch.finish(module)
        before = checkpoint.train_s if checkpoint is not None else 0.0
        return FitResult(
            value=float(watch.best),  # type: ignore[arg-type]
            metrics=watch.best_metrics,
            epochs=watch.epochs,
            n_params=_n_params(module),
            artifact=None,
            wall_time=time.perf_counter() - start + before,
            model=module,
            budget={"epochs": watch.best_epoch + 1},
            stopped=watch.stopped,
        )

    def _fit(
        self,
        module: LightningModule,
        batches: TensorBatches,
        dataset: Dataset,
        goal: Goal,
        watch: EpochWatch,
        cfg: object,
        log_dir: str | None,
        checkpoint: TrialCheckpoint | None,
    ) -> None:
        """Train ``module`` in its loop, ``watch`` judging every epoch (and with
        ``checkpoint``, saving the training state after each and continuing from it)."""
        from automl.backends.supervised import TensorBatches

        val = TensorBatches(*self._tensors(dataset, "val"), self.cfg.eval_batch_size)
        max_epochs = self.cfg.max_epochs
        if self.loop_for(module, log_dir) is None:
            from automl.backends.trial_log import METRICS_FILE, MetricsCSV

            log = MetricsCSV(Path(log_dir) / METRICS_FILE) if log_dir is not None else None
            on_epoch, begin = lean_epoch_end(watch, module, log), None
            if checkpoint is not None:  # saved after each epoch's row; restored before epoch 0
                from automl.backends.lightning_state import LeanState

                state = LeanState(checkpoint, module, batches, watch, log, max_epochs)
                on_epoch, begin = state.wrap(on_epoch), state.start
            self._lean.fit(
                cast("SupervisedModule", module), batches, val, max_epochs, on_epoch, begin
            )
        else:
            callbacks, logger, log = [watch_callback(watch)], False, None
            if log_dir is not None:  # metrics.csv (and TensorBoard files) of a study's trial
                from automl.backends.trial_log import trial_logging

                params = (
                    dataclasses.asdict(cfg)
                    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type)
                    else {}
                )
                logs, logger = trial_logging(
                    self._logger_name(), log_dir, params, (goal.key, "val_loss")
                )
                callbacks += logs
                log = getattr(logs[0], "csv", None)
            ckpt_path = None
            if checkpoint is not None:  # last: after the epoch's metrics.csv row
                from automl.backends.lightning_state import trainer_state

                saver, ckpt_path = trainer_state(checkpoint, module, batches, watch, log)
                callbacks.append(saver)
            trainer = self._trainer(callbacks, logger=logger)
            trainer.fit(
                module,
                train_dataloaders=batches,
                val_dataloaders=val,
                ckpt_path=ckpt_path,
                weights_only=True if ckpt_path else None,
            )

    def refit(
        self,
        plugin: ModelPlugin,
        cfg: object,
        dataset: Dataset,
        budget: dict[str, Any],
        *,
        seed: int,
    ) -> FitResult:
        start = time.perf_counter()
        module, batches = self._start(plugin, cfg, dataset, seed)
        epochs = int(budget.get("epochs", self.cfg.max_epochs))
        if self.loop_for(module) is None:
            self._lean.train(module, batches, epochs)
        else:
            trainer = self._trainer([], max_epochs=epochs, limit_val_batches=0)
            trainer.fit(module, train_dataloaders=batches)
        module.eval()
        wall = time.perf_counter() - start
        return FitResult(
            float("nan"), {}, epochs, _n_params(module), None, wall, module, dict(budget)
        )

    def evaluate(
        self, plugin: ModelPlugin, model: LightningModule, dataset: Dataset, split: str
    ) -> dict:
        """Metrics from the module's own validation logic (so custom metrics such as a GAN's
        Frechet distance work the same way on the test split)."""
        from automl.backends.supervised import TensorBatches

        batches = TensorBatches(*self._tensors(dataset, split), self.cfg.eval_batch_size)
        logged: Mapping[str, float]
        if self.loop_for(model) is None:  # None: a SupervisedModule the lean loop trains
            logged = self._lean.evaluate(cast("SupervisedModule", model), batches)
        else:
            trainer = self._trainer([], max_epochs=1)
            (logged,) = trainer.validate(model, dataloaders=batches, verbose=False)
        return {f"{split}_{k.removeprefix('val_')}": float(v) for k, v in logged.items()}

    def outputs(self, model: LightningModule, x: np.ndarray) -> np.ndarray:
        """The module's raw outputs (logits or values) for preprocessed inputs, batched."""
        import torch

        model.eval()
        device = next(iter(model.parameters()), torch.empty(0)).device
        outs = []
        with torch.no_grad():
            for start in range(0, len(x), self.cfg.eval_batch_size):
                xb = torch.as_tensor(
                    np.asarray(x[start : start + self.cfg.eval_batch_size]),
                    dtype=torch.float32,
                    device=device,
                )
                outs.append(model(xb).float().cpu())
        return torch.cat(outs).numpy() if outs else np.zeros((0,), np.float32)

    @contextlib.contextmanager
    def one_thread(self) -> Iterator[None]:
        """torch on one intra-op thread for a while (timing ``latency_ms``): with several,
        a call waits for every thread, and on a busy machine one of them is often stalled
        for a scheduler time slice (a 0.1 ms call measured 24 ms on 2 shared cores)."""
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def generates(self, model: LightningModule) -> bool:
        # The documented mark of a generator module (docs/plugins.md): a `sample(n, labels,
        # seed)` method. Its forward maps noise to images, so it has no predictions.
        return callable(getattr(model, "sample", None))

    def predict(self, model: LightningModule, x: np.ndarray, task: str) -> np.ndarray:
        out = self.outputs(model, x)
        if task == "classification":
            return out.argmax(axis=1)
        return out.reshape(len(out), -1)[:, 0] if out.ndim > 1 and out.shape[1] == 1 else out

    def predict_with_proba(
        self, model: LightningModule, x: np.ndarray, task: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if task != "classification":
            return self.predict(model, x, task), None
        logits = self.outputs(model, x).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)  # a stable softmax
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba.argmax(axis=1), proba

    def save(self, plugin: ModelPlugin, model: LightningModule, directory: str) -> str:
        import torch

        from automl.core.atomic import atomic_path

        target = Path(directory) / MODEL_FILE
        with atomic_path(target) as partial:
            torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, partial)
        return str(target)

    def load(
        self, plugin: ModelPlugin, directory: str, cfg: object, spec: DataSpec
    ) -> LightningModule:

        import torch

        module = self._build(plugin, cfg, spec)
        path = Path(directory) / MODEL_FILE
        _check_weights_size(path, module)
        try:
            # weights_only: a tampered file cannot run code through torch.load.
            state = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise ExportError(f"{path} {_unreadable(exc)}; re-export the model") from None
        module.load_state_dict(state)
        module.eval()
        return module

    def result_settings(self) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "max_epochs": cfg.max_epochs,
            "precision": str(cfg.precision),
            "seed": cfg.seed,
            "deterministic": bool(cfg.deterministic),
        }


WEIGHTS_SLACK = 1.1
"""How much larger than its tensors' bytes a weights file may be (torch's zip container adds
a few hundred bytes and some alignment per tensor: about 1% on the smallest models here)."""
WEIGHTS_OVERHEAD = 1 * 2**20
"""Bytes of container a weights file may add on top of ``WEIGHTS_SLACK``."""


def _check_weights_size(path: Path, module: LightningModule) -> None:
    """Refuse a weights file far larger than the model's own tensors, before torch reads it.

    The model is built from the export's checked config, so the bytes its state takes are
    known exactly; a planted multi-gigabyte file is refused without being read.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ExportError(f"cannot read {path} ({exc.strerror}); re-export the model") from None
    tensors = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    limit = int(tensors * WEIGHTS_SLACK) + WEIGHTS_OVERHEAD
    if size > limit:
        raise ExportError(
            f"{path} is {size} bytes, but this model's weights take {tensors} bytes (at most "
            f"{limit} with the file's container): it is not this model's weights file; "
            "re-export the model"
        )


def _unreadable(exc: Exception) -> str:
    """Why torch could not read a weights file, in automl's words.

    torch's own refusal of a pickle advises retrying with ``weights_only=False``, which would
    run whatever code the file holds: that advice is never passed on.
    """
    if type(exc).__name__ == "UnpicklingError" or "weights_only" in str(exc):
        return (
            "holds more than tensors (a pickle of other objects), which automl never "
            "unpickles: it is not a weights file automl wrote"
        )
    first = str(exc).strip().split(". ")[0].splitlines()[0] if str(exc).strip() else ""
    return f"is damaged or truncated ({first[:200] or type(exc).__name__})"


def _n_params(module: LightningModule) -> int:
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))
