"""The Lightning backend's lean loop: which models it trains, and that it trains them exactly as
Lightning's Trainer does (same weights, metrics, reports, metrics.csv rows, refit, test)."""

from __future__ import annotations

import csv
import dataclasses
import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.datasets import load_wine
from torch import nn

from automl.backends import Goal
from automl.backends.lightning import LightningBackend
from automl.backends.lightning_loop import LEAN_SETTINGS
from automl.backends.supervised import SupervisedModule
from automl.backends.trial_log import METRICS_FILE
from automl.core.errors import TrialPruned
from automl.core.registry import discover_models
from automl.data import clear_cache, load_dataset
from automl.data.npz import NPZ, NpzConfig
from automl.study.config import TrainerConfig
from automl.testing import tiny_dataset

TRAINER = TrainerConfig(max_epochs=3, accelerator="cpu", num_threads=1)


@pytest.fixture(scope="module")
def mlp():
    return discover_models().get("mlp")


@pytest.fixture(scope="module")
def data(mlp):
    return tiny_dataset(mlp)


@pytest.fixture
def alcohol(tmp_path):
    """Regression: wine's alcohol column from the other measurements (standardized targets)."""
    data = load_wine()
    np.savez(
        tmp_path / "alcohol.npz",
        x=np.delete(data.data, 0, axis=1).astype(np.float32),
        y=data.data[:, 0].astype(np.float32),
    )
    clear_cache()
    return load_dataset(NPZ, NpzConfig(path=str(tmp_path / "alcohol.npz"), task="regression"))


def _rows(path):
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "elapsed_s"} for row in csv.DictReader(fh)]


def _fit_both(plugin, dataset, goal, tmp_path, report=None):
    out = {}
    for loop in ("auto", "trainer"):
        backend = LightningBackend(TRAINER, loop=loop)
        reports: list[tuple[int, float]] = []

        def record(step, value, reports=reports):
            reports.append((step, value))
            return report(step, value) if report is not None else False

        log_dir = tmp_path / loop
        try:
            result = backend.fit(
                plugin, plugin.config(), dataset, goal, report=record, seed=7, log_dir=log_dir
            )
        except TrialPruned as pruned:
            result = pruned
        out[loop] = (backend, result, reports, _rows(log_dir / METRICS_FILE))
    return out


def _sequence_regression():
    """digits_seq rows (8 steps of 8 features) -> the image's mean ink: a rank-2 regression."""
    from sklearn.datasets import load_digits

    from automl.data import DataConfig, RawData
    from automl.data.split import make_dataset

    images = load_digits().images[:400].astype(np.float32)
    raw = RawData(x=images, y=images.mean(axis=(1, 2)), task="regression", layout="sequence")
    return make_dataset("ink", raw, DataConfig())


# Every built-in plugin whose model is a SupervisedModule, on each task it takes.
PARITY = [
    ("mlp", "classification"),
    ("mlp", "regression"),
    ("cnn", "classification"),
    ("rnn", "classification"),
    ("rnn", "regression"),
]


def test_parity_covers_every_builtin_supervised_module_plugin():
    models = discover_models()
    supervised = set()
    for name in models.names():
        plugin = models.get(name)
        if plugin.kind != "lightning" or models.info(name).package != "automl":
            continue
        module = LightningBackend._build(plugin, plugin.config(), tiny_dataset(plugin))
        if isinstance(module, SupervisedModule):
            supervised |= {(name, task) for task in plugin.tasks}
    assert supervised == set(PARITY)


@pytest.mark.parametrize(("name", "task"), PARITY)
def test_the_lean_loop_trains_exactly_as_the_trainer(data, alcohol, tmp_path, name, task):
    plugin = discover_models().get(name)
    if task == "classification":
        dataset = data if name == "mlp" else tiny_dataset(plugin)
        goal = Goal("acc", "maximize")
    else:
        dataset = alcohol if name == "mlp" else _sequence_regression()
        goal = Goal("rmse", "minimize")
    mlp = plugin  # the checks below were written for the MLP; they hold for every plugin
    both = _fit_both(mlp, dataset, goal, tmp_path)
    lean, trainer = both["auto"], both["trainer"]
    module = lean[1].model
    assert lean[0].loop_for(module) is None  # a SupervisedModule: trained lean
    assert trainer[0].loop_for(module) == "the Trainer was asked for"
    (_, a, a_reports, a_rows), (_, b, b_reports, b_rows) = lean, trainer
    assert (a.value, a.metrics, a.epochs, a.budget) == (b.value, b.metrics, b.epochs, b.budget)
    assert a_reports == b_reports and len(a_reports) == TRAINER.max_epochs
    assert a_rows == b_rows and len(a_rows) == TRAINER.max_epochs
    assert float(a_rows[-1]["train_loss"]) > 0 and "lr" in a_rows[0]
    state_a, state_b = a.model.state_dict(), b.model.state_dict()
    assert state_a.keys() == state_b.keys()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert a.model.device == torch.device("cpu")  # moved back, as the Trainer's teardown does
    # The refit (no validation) and the test evaluation agree too.
    refits = [
        LightningBackend(TRAINER, loop=loop).refit(
            mlp, mlp.config(), dataset, {"epochs": 2}, seed=3
        )
        for loop in ("auto", "trainer")
    ]
    ra, rb = (r.model.state_dict() for r in refits)
    assert all(torch.equal(ra[k], rb[k]) for k in ra)
    assert not refits[0].model.training
    tests = [
        LightningBackend(TRAINER, loop=loop).evaluate(mlp, a.model, dataset, "test")
        for loop in ("auto", "trainer")
    ]
    assert tests[0] == tests[1] and f"test_{goal.metric}" in tests[0]


def test_pruning_stops_the_lean_loop_after_the_epoch_that_asked(mlp, data, tmp_path):
    both = _fit_both(mlp, data, Goal("acc", "maximize"), tmp_path, report=lambda s, v: s == 1)
    for loop in ("auto", "trainer"):
        _, pruned, reports, rows = both[loop]
        assert isinstance(pruned, TrialPruned) and pruned.epoch == 1, loop
        assert [s for s, _ in reports] == [0, 1]
        assert [r["step"] for r in rows] == ["0", "1"]  # the pruned epoch's row is kept


class _Nan(nn.Module):
    def forward(self, x):
        return x * math.nan


def _net(spec, *extra):
    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(spec.input_shape), spec.n_classes), *extra
    )


def build_nan(cfg, spec):
    return SupervisedModule(_net(spec, _Nan()), spec)


def build_custom_step(cfg, spec):
    return _CustomStep(_net(spec), spec, lr=0.05)


def _plugin_building(mlp, build):
    return dataclasses.replace(mlp, build=f"{__name__}:{build}")


def test_a_diverged_loss_fails_the_lean_fit_after_its_epoch(mlp, data):
    plugin = _plugin_building(mlp, "build_nan")
    backend = LightningBackend(TRAINER)
    with pytest.raises(FloatingPointError, match="train loss is nan at epoch 0"):
        backend.fit(plugin, mlp.config(), data, Goal("acc", "maximize"), report=None, seed=0)


class _CustomStep(SupervisedModule):
    def training_step(self, batch, batch_idx):
        self.log("train_loss", 1.0)  # needs the Trainer's logging
        return super().training_step(batch, batch_idx)


class _OwnForward(SupervisedModule):
    def forward(self, x):
        return super().forward(x) * 1.0


class _Manual(SupervisedModule):
    def __init__(self, *args):
        super().__init__(*args)
        self.automatic_optimization = False


class _Plain(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 2)


def test_which_loop_trains_which_model(mlp, data):
    spec = data.spec

    def net():
        return _net(spec)

    backend = LightningBackend(TRAINER)
    assert backend.loop_for(SupervisedModule(net(), spec)) is None
    assert backend.loop_for(_OwnForward(net(), spec)) is None
    assert backend.loop_for(_CustomStep(net(), spec)) == "_CustomStep redefines training_step"
    assert backend.loop_for(_Manual(net(), spec)) == "manual optimization"
    assert backend.loop_for(_Plain()) == "_Plain is not a SupervisedModule"
    patched = SupervisedModule(net(), spec)
    patched.configure_optimizers = lambda: torch.optim.SGD(patched.parameters(), lr=0.1)
    assert backend.loop_for(patched) == "instance attributes shadow configure_optimizers"
    nested = SupervisedModule(nn.Sequential(_Plain()), spec)
    assert backend.loop_for(nested) == "nested LightningModule _Plain"
    tensorboard = LightningBackend(TrainerConfig(accelerator="cpu", logger="tensorboard"))
    assert tensorboard.loop_for(SupervisedModule(net(), spec)) is None
    assert tensorboard.loop_for(SupervisedModule(net(), spec), "trials/0000") == (
        "trainer.logger=tensorboard"
    )
    bf16 = LightningBackend(TrainerConfig(accelerator="cpu", precision="bf16-mixed"))
    assert bf16.loop_for(SupervisedModule(net(), spec)) == "precision bf16-mixed"


class _Annealed(SupervisedModule):
    """A forward that reads the Trainer's state: noise that shrinks with the epoch, and a
    logged value. In the lean loop it saw epoch 0 in every epoch and its log was dropped."""

    seen: list[int]

    def forward(self, x):
        if self.training:
            self.seen.append(self.current_epoch)
            x = x + torch.randn_like(x) / (1 + self.current_epoch)
        else:
            self.log("val_scale", 1.0 / (1 + self.current_epoch))
        return super().forward(x)


def build_annealed(cfg, spec):
    module = _Annealed(_net(spec), spec, lr=0.05)
    module.seen = []
    return module


def test_a_forward_that_reads_trainer_state_trains_under_the_trainer_and_gets_it(mlp, data):
    plugin = _plugin_building(mlp, "build_annealed")
    backend = LightningBackend(TRAINER)
    module = build_annealed(None, data.spec)
    assert backend.loop_for(module) == (
        "_Annealed.forward reads self.current_epoch, self.log, which only Lightning's Trainer keeps"
    )
    result = backend.fit(plugin, mlp.config(), data, Goal("acc", "maximize"), report=None, seed=0)
    assert sorted(set(result.model.seen)) == [0, 1, 2]  # the epoch it was in, every epoch
    assert result.metrics["val_scale"] == pytest.approx(1 / (1 + result.budget["epochs"] - 1))


@dataclasses.dataclass
class _ClippingTrainer(TrainerConfig):
    gradient_clip_val: float = 0.5  # a setting the lean loop does not implement


def test_a_setting_the_lean_loop_does_not_implement_sends_every_model_to_the_trainer(mlp, data):
    spec = data.spec
    module = SupervisedModule(_net(spec), spec)
    assert LightningBackend(TrainerConfig(accelerator="cpu")).loop_for(module) is None
    clipping = LightningBackend(_ClippingTrainer(accelerator="cpu"))
    assert clipping.loop_for(module) == (
        "trainer.gradient_clip_val is not implemented by the lean loop"
    )
    assert set(LEAN_SETTINGS) >= {f.name for f in dataclasses.fields(TrainerConfig)}


def test_a_model_the_lean_loop_does_not_support_trains_under_the_trainer(mlp, data):
    """A SupervisedModule whose training_step logs (Trainer-only) trains and reports."""
    plugin = _plugin_building(mlp, "build_custom_step")
    reports: list[int] = []
    result = LightningBackend(TRAINER).fit(
        plugin,
        mlp.config(),
        data,
        Goal("acc", "maximize"),
        report=lambda s, v: reports.append(s) and False,
        seed=0,
    )
    assert reports == [0, 1, 2] and result.epochs == 3 and 0.0 <= result.value <= 1.0
