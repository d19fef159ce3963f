"""Each model family reads the data in its own layout (automl.data.layout): a 1 x 40 signal is
1 channel of length 40 to the cnn and 40 steps of 1 feature to the rnn, in a single-model run,
in ``model=auto`` and in ``best/``'s predictions. Before, the rnn read the signal as one step
of 40 features and scored far lower, without a word."""

from __future__ import annotations

import json
import os

import numpy as np
import optuna
import pytest
import yaml
from helpers import compose, run_cli
from rich.console import Console

from automl.core.plugin import DataSpec
from automl.core.registry import discover_data, discover_models
from automl.data.layout import as_layout, fit_layout, spec_as
from automl.data.preprocess import apply_layout
from automl.study.families import AUTO, FAMILY_PARAM
from automl.study.plan import make_plan
from automl.study.run import prepare
from automl.tuning import run_study


def _signals(path, n: int = 1200, length: int = 40, noise: float = 0.3, seed: int = 0):
    """Noisy sine, square and sawtooth waves of random frequency and phase (3 classes), stored
    as ``n x length`` (one channel per sample)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length, dtype=np.float32)
    y = rng.integers(0, 3, n)
    cycles = rng.uniform(2, 6, n)[:, None] * t[None, :] + rng.uniform(0, 1, n)[:, None]
    shapes = [np.sin(2 * np.pi * cycles), np.sign(np.sin(2 * np.pi * cycles)), 2 * (cycles % 1) - 1]
    x = np.choose(y[:, None], shapes) + noise * rng.standard_normal((n, length))
    np.savez(path, x=x.astype(np.float32), y=y)
    return x.astype(np.float32), y


@pytest.mark.heavy
def test_rnn_reads_a_signal_as_steps_in_training_and_in_best(tmp_path):
    x, y = _signals(tmp_path / "sig.npz")
    out = run_cli(
        [
            "model=rnn",
            "data=npz",
            f"data.path={tmp_path / 'sig.npz'}",
            "data.layout=signal",
            "sweep=none",
            "trainer.num_threads=1",
            "hydra.run.dir=run",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert (
        "note: model 'rnn' reads sequences (steps x features): data 'npz' (1 channel of "
        "length 40) is handed to it as 40 steps of 1 feature" in out.stdout
    )
    single = tmp_path / "run" / "single"
    spec = yaml.safe_load((single / "config.yaml").read_text())["spec"]
    assert spec["input_shape"] == [40, 1] and spec["layout"] == "sequence"
    test = json.loads((single / "metrics.json").read_text())["test"]
    assert test["test_acc"] > 0.9  # read as one step of 40 features: 0.83 on this data
    from automl.results.predictor import load_best

    predictor = load_best(single)
    stored = predictor.predict(x)  # as the file holds them: 40 values a sample
    assert float(np.mean(stored == y)) > 0.9
    # Inputs already in the model's shape (40 steps of 1) pass through to the same answer.
    np.testing.assert_array_equal(predictor.predict(x[:, :, None]), stored)


def _auto_plan(tmp_path, overrides):
    models, datas = discover_models(), discover_data()
    cfg = compose([f"model={AUTO}", "data=npz", *overrides], models, datas)
    return make_plan(cfg, AUTO, "npz", models, datas, tmp_path / "run", overrides)


def test_auto_decides_each_family_s_view_once(tmp_path):
    _signals(tmp_path / "sig.npz", n=300)
    overrides = [f"data.path={tmp_path / 'sig.npz'}", "data.layout=signal", "data.folds=0"]
    run = prepare(_auto_plan(tmp_path, [*overrides, "model.families=[cnn,rnn,mlp]"]))
    shapes = {name: run.services.dataset_of(name).spec.input_shape for name in run.families}
    assert shapes == {"cnn": (1, 40), "rnn": (40, 1), "mlp": (1, 40)}
    assert run.services.dataset_of("cnn") is run.dataset  # as loaded: no copy
    rnn = run.services.dataset_of("rnn")
    np.testing.assert_array_equal(rnn.train.x, run.dataset.train.x.transpose(0, 2, 1))
    assert any("40 steps of 1 feature" in note for note in run.notes)


@pytest.mark.slow  # 30 s: two 20-epoch fits; the test above covers the decision
def test_auto_hands_the_cnn_channels_x_length_and_the_rnn_steps(tmp_path):
    _signals(tmp_path / "sig.npz")
    plan = _auto_plan(
        tmp_path,
        [
            f"data.path={tmp_path / 'sig.npz'}",
            "data.layout=signal",
            "data.folds=0",
            "model.families=[cnn,rnn]",
            "sweep.n_trials=2",  # each family's defaults
            "sweep.report=false",
            "trainer.num_threads=1",
        ],
    )
    console = Console(record=True, width=200, file=open(os.devnull, "w"))
    outcome = run_study(plan, console)
    assert outcome.exit_code == 0
    assert "40 steps of 1 feature" in console.export_text()
    study = optuna.load_study(
        study_name=plan.study_name, storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    )
    by_family = {t.params[FAMILY_PARAM]: t for t in study.get_trials()}
    assert set(by_family) == {"cnn", "rnn"}
    # The rnn's default on the signal as one step of 40 features: 0.83 validation accuracy.
    assert by_family["rnn"].value > 0.9 and by_family["cnn"].value > 0.9


def _spec(layout, shape=(1, 40)):
    return DataSpec("d", "classification", shape, n_classes=3, layout=layout)


@pytest.mark.parametrize(
    ("model", "layout", "transpose", "note"),
    [
        ("rnn", "signal", True, "handed to it as 40 steps of 1 feature"),
        ("rnn", "sequence", False, None),
        ("cnn", "signal", False, None),
        ("cnn", "sequence", True, "handed to it as 40 channels of length 1"),
        ("mlp", "signal", False, None),  # it flattens: any order fits
        ("rnn", None, False, "does not say what its 1 x 40 samples are"),
    ],
)
def test_each_family_reads_rank_2_data_in_its_own_layout(model, layout, transpose, note):
    plugin = discover_models().get(model)
    fit = fit_layout(plugin, _spec(layout))
    assert fit.transpose is transpose
    assert (note is None and fit.note is None) or (note in (fit.note or ""))
    if transpose:
        assert spec_as(_spec(layout), fit).input_shape == (40, 1)


def test_a_square_signal_is_transposed_at_prediction_too():
    """8 x 8 samples: the model's shape is the stored one, and inputs are read as stored."""
    from automl.data import DataConfig, RawData
    from automl.data.preprocess import apply_preprocessing
    from automl.data.split import make_dataset

    rng = np.random.default_rng(0)
    raw = RawData(
        x=rng.normal(size=(60, 8, 8)).astype(np.float32),
        y=np.arange(60) % 3,
        task="classification",
        layout="signal",
    )
    data = make_dataset("square", raw, DataConfig(normalize=False))
    view = as_layout(data, fit_layout(discover_models().get("rnn"), data.spec))
    np.testing.assert_array_equal(view.train.x, data.train.x.transpose(0, 2, 1))
    again = apply_preprocessing(data.test.x, view.preprocessing)
    np.testing.assert_array_equal(again, view.test.x)
    step = view.preprocessing["steps"][0]
    np.testing.assert_array_equal(apply_layout(data.test.x, step), view.test.x)
