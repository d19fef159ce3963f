"""The rnn plugin: LSTM/GRU on sequences (digits_seq and synthetic data), save/load, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from helpers import run_cli

from automl.backends.lightning import LightningBackend
from automl.core.errors import PluginError
from automl.core.registry import discover_data, discover_models
from automl.data import DataConfig, RawData, load_dataset
from automl.data.builtin import DigitsSeqConfig, TabularConfig
from automl.data.split import make_dataset
from automl.study import train
from automl.study.config import TrainerConfig

# One torch thread: on a shared 2-core machine two threads of a tiny model spin-wait.
TRAINER = TrainerConfig(max_epochs=2, accelerator="cpu", num_threads=1)


@pytest.fixture(scope="module")
def plugin():
    return discover_models().get("rnn")


@pytest.fixture(scope="module")
def digits_seq():
    return load_dataset(discover_data().get("digits_seq"), DigitsSeqConfig())


def test_digits_seq_is_registered_with_a_sequence_view(digits_seq, plugin):
    assert digits_seq.spec.input_shape == (8, 8)
    assert digits_seq.spec.n_classes == 10
    assert plugin.default_data == "digits_seq"
    plugin.check_data(digits_seq.spec)  # rank 2, classification: accepted


def test_defaults_train_on_digits_seq_and_reload_identically(plugin, digits_seq, tmp_path):
    result = train.fit(plugin, plugin.config(), digits_seq, TRAINER, workdir=tmp_path)
    assert plugin.objective("classification") == ("acc", "maximize")
    assert math.isfinite(result.value)
    # Two epochs already beat chance (0.1) by far: the metric moved the declared way.
    assert result.value > 0.5
    assert result.metrics["val_acc"] == result.value
    assert result.epochs == 2
    test = train.evaluate(plugin, result.model, digits_seq, TRAINER)
    assert test["test_acc"] > 0.5

    loaded = train.load_model(plugin, tmp_path, plugin.config(), digits_seq.spec)
    x = torch.as_tensor(digits_seq.test.x)
    result.model.eval()
    with torch.no_grad():
        assert torch.equal(result.model(x), loaded(x))
    backend = LightningBackend(TRAINER)
    np.testing.assert_array_equal(
        backend.predict(loaded, digits_seq.test.x, "classification"),
        backend.predict(result.model, digits_seq.test.x, "classification"),
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"cell": "gru"},
        {"cell": "lstm", "bidirectional": True, "layers": 2},
        {"cell": "gru", "bidirectional": True, "pooling": "mean"},
        {"cell": "lstm", "pooling": "mean", "layers": 3},
    ],
)
def test_every_cell_and_pooling_gives_one_row_of_logits_per_sample(plugin, digits_seq, changes):
    from automl_plugins.rnn_model import build

    module = build(replace(plugin.config(), **changes), digits_seq.spec)
    out = module(torch.as_tensor(digits_seq.val.x[:5]))
    assert out.shape == (5, 10)
    rnn = module.net.rnn
    assert isinstance(rnn, torch.nn.GRU if changes["cell"] == "gru" else torch.nn.LSTM)
    assert rnn.bidirectional == changes.get("bidirectional", False)
    assert rnn.num_layers == changes.get("layers", 1)


def test_bidirectional_last_state_uses_both_directions(plugin, digits_seq):
    from automl_plugins.rnn_model import build

    module = build(replace(plugin.config(), bidirectional=True, hidden=16), digits_seq.spec)
    assert module.net.head[-1].in_features == 32
    x = torch.as_tensor(digits_seq.val.x[:4])
    module.eval()
    with torch.no_grad():
        base = module(x)
        # Changing the first step moves the backward direction's final state (it ends there).
        x2 = x.clone()
        x2[:, 0] += 5.0
        assert not torch.allclose(module(x2), base)


def test_unknown_cell_is_rejected(plugin, digits_seq):
    from automl_plugins.rnn_model import build

    with pytest.raises(ValueError, match="cell 'rnn' is not one of lstm, gru"):
        build(replace(plugin.config(), cell="rnn"), digits_seq.spec)


def test_regression_on_any_rank2_sequences(plugin):
    # Target: the mean of feature 0 over time; a constant predictor's RMSE is std(y).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 12, 3)).astype("float32")
    y = x[:, :, 0].mean(axis=1) * 3.0
    data = make_dataset("walks", RawData(x=x, y=y, task="regression"), DataConfig())
    assert data.spec.rank == 2
    cfg = replace(plugin.config(), lr=1e-2, dropout=0.0, pooling="mean")
    result = train.fit(plugin, cfg, data, replace(TRAINER, max_epochs=4))
    assert plugin.objective("regression") == ("rmse", "minimize")
    assert math.isfinite(result.value)
    assert result.value < 0.6 * float(np.std(data.val.y))


def test_rank1_data_is_rejected(plugin):
    tabular = load_dataset(discover_data().get("breast_cancer"), TabularConfig())
    with pytest.raises(PluginError, match=r"rank 2.*breast_cancer.*rank 1"):
        plugin.check_data(tabular.spec)
    with pytest.raises(PluginError):
        train.fit(plugin, plugin.config(), tabular, TRAINER)


def test_spec_module_does_not_import_torch():
    code = "import sys, automl_plugins.rnn; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.slow  # the RNN trains in the unit tests above
def test_cli_study_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(
        [
            "model=rnn",
            "sweep.n_trials=2",
            "trainer.max_epochs=2",
            "trainer.num_threads=1",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    board = json.loads((run_dir / "leaderboard.json").read_text())
    states = [row["state"] for row in board["trials"]]
    assert len(states) == 2 and "COMPLETE" in states
    best = json.loads((run_dir / "best" / "metrics.json").read_text())
    assert 0.1 < best["test"]["test_acc"] <= 1.0
