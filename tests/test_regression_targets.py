"""Regression targets are standardized for torch models with training-split statistics, and
every number a user sees (metrics, test, refit, load_best predictions) is in original units."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli
from sklearn.datasets import load_wine

from automl.backends.lightning import LightningBackend
from automl.core.plugin import DataSpec
from automl.core.registry import discover_models
from automl.data import clear_cache, load_dataset
from automl.data.npz import NPZ, NpzConfig
from automl.study import train
from automl.study.config import TrainerConfig

TRAINER = TrainerConfig(max_epochs=5, accelerator="cpu", num_threads=1)


@pytest.fixture
def alcohol(tmp_path):
    """Wine's alcohol column (about 11-15 %) predicted from the other 12 measurements."""
    wine = load_wine()
    x = np.delete(wine.data, 0, axis=1).astype(np.float32)
    y = wine.data[:, 0].astype(np.float32)
    np.savez(tmp_path / "alcohol.npz", x=x, y=y)
    clear_cache()
    return tmp_path / "alcohol.npz", x, y


def test_statistics_come_from_the_training_split_only(alcohol):
    path, _, y = alcohol
    data = load_dataset(NPZ, NpzConfig(path=str(path), task="regression"))
    (mean,), (std,) = data.spec.target_mean, data.spec.target_std
    assert mean == pytest.approx(float(np.mean(data.train.y, dtype=np.float64)), rel=1e-6)
    assert std == pytest.approx(float(np.std(data.train.y, dtype=np.float64)), rel=1e-6)
    assert mean != pytest.approx(float(y.mean()), rel=1e-6)  # not the whole data's
    assert data.preprocessing["target"] == {"kind": "standardize", "mean": [mean], "std": [std]}
    # The splits keep the original units (estimators and metrics see those).
    assert 10.0 < float(data.val.y.mean()) < 16.0
    # k-fold: each fold and the refit's merged rows have statistics of their own training rows.
    folded = load_dataset(NPZ, NpzConfig(path=str(path), task="regression", folds=3))
    for fold in folded.folds:
        assert fold.spec.target_mean == pytest.approx((float(np.mean(fold.train.y)),), rel=1e-5)
    merged = folded.merged()
    assert merged.spec.target_mean == pytest.approx((float(np.mean(merged.train.y)),), rel=1e-5)


def test_mlp_learns_alcohol_in_original_units(alcohol, tmp_path):
    """Unstandardized, this MLP reached validation R2 -179 after 5 epochs (and -9.8 after 20)."""
    path, _, _ = alcohol
    data = load_dataset(NPZ, NpzConfig(path=str(path), task="regression"))
    plugin = discover_models().get("mlp")
    result = train.fit(plugin, plugin.config(), data, TRAINER, workdir=tmp_path / "m", seed=0)
    assert result.metrics["val_r2"] > 0.3, result.metrics
    assert result.metrics["val_rmse"] < 1.0  # percent alcohol: well below the 0.8 spread
    backend = LightningBackend(TRAINER)
    predicted = backend.predict(result.model, data.test.x, "regression")
    assert 11.0 < float(predicted.mean()) < 15.0  # original units, not standardized ones
    test = train.evaluate(plugin, result.model, data, TRAINER, "test")
    assert test["test_rmse"] == pytest.approx(
        float(np.sqrt(np.mean((predicted - data.test.y) ** 2))), rel=1e-4
    )
    # The statistics are saved with the weights: a module built from a spec without them
    # (as an older best/config.yaml describes the data) predicts the same after loading.
    bare = DataSpec(data.spec.name, "regression", data.spec.input_shape)
    reloaded = train.load_model(plugin, tmp_path / "m", plugin.config(), bare)
    np.testing.assert_allclose(
        backend.predict(reloaded, data.test.x, "regression"), predicted, rtol=1e-6
    )


def test_weights_saved_before_standardization_still_load(alcohol):
    import torch
    from automl_plugins.mlp_model import build

    path, _, _ = alcohol
    data = load_dataset(NPZ, NpzConfig(path=str(path), task="regression"))
    plugin = discover_models().get("mlp")
    module = build(plugin.config(), data.spec)
    old = {k: v for k, v in module.state_dict().items() if not k.startswith("target_")}
    fresh = build(plugin.config(), data.spec)
    fresh.load_state_dict(old)  # no missing-key error: identity scaling, as it was trained
    assert float(fresh.target_mean) == 0.0 and float(fresh.target_std) == 1.0
    fresh.eval()  # no dropout
    x = torch.as_tensor(data.test.x[:4])
    torch.testing.assert_close(fresh(x), fresh.net(x).reshape(-1))


@pytest.mark.heavy
def test_study_refit_and_load_best_predict_in_original_units(alcohol):
    path, x, y = alcohol
    work = path.parent
    run_dir = work / "run"
    out = run_cli(
        [
            "model=mlp",
            "data=npz",
            f"data.path={path}",
            "data.task=regression",
            "sweep.n_trials=2",
            "sweep.refit=true",
            "trainer.max_epochs=8",
            # A learning rate that trains in 8 epochs: the test is about units, not the search.
            "space.lr=0.01",
            f"hydra.run.dir={run_dir}",
        ],
        work,
    )
    assert out.returncode == 0, out.stderr
    metrics = json.loads((run_dir / "best" / "metrics.json").read_text())
    assert "rows" in metrics["refit"], metrics["refit"]
    assert metrics["test"]["test_r2"] > 0.2, metrics
    assert metrics["validation"]["val_rmse"] < 1.0, metrics
    saved = json.loads((run_dir / "best" / "preprocessing.json").read_text())
    assert saved["target"]["kind"] == "standardize" and 12.0 < saved["target"]["mean"][0] < 14.0
    from automl.results.predictor import load_best

    predicted = load_best(run_dir / "best").predict(x)
    assert predicted.shape == y.shape
    assert abs(float(predicted.mean()) - float(y.mean())) < 0.5
    assert float(np.sqrt(np.mean((predicted - y) ** 2))) < 1.0
