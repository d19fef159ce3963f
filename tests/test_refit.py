"""Refit: the selected config retrained on every non-test row for the budget the search found."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import run_cli
from omegaconf import OmegaConf

from automl.backends.protocol import mean_budget
from automl.core.registry import discover_data, discover_models
from automl.data import load_dataset
from automl.study import train
from automl.study.config import TrainerConfig


@pytest.fixture(scope="module")
def cancer():
    plugin = discover_data().get("breast_cancer")
    return load_dataset(plugin, plugin.config())


def test_merged_data_holds_every_non_test_row_with_refitted_statistics(cancer):
    from sklearn.datasets import load_breast_cancer

    merged = cancer.merged()
    assert len(merged.train) == len(cancer.train) + len(cancer.val)
    assert len(merged.val) == 0
    np.testing.assert_array_equal(merged.test.y, cancer.test.y)
    # standardization is fitted on the merged rows: their mean is 0 in the merged space
    assert np.allclose(merged.train.x.mean(axis=0), 0.0, atol=1e-4)
    assert not np.allclose(cancer.train.x.mean(axis=0), merged.train.x[: len(cancer.train)].mean(0))
    # the stored statistics are those of the raw non-test rows
    from automl.data.split import split_indices

    x, y = load_breast_cancer(return_X_y=True)
    cfg = discover_data().get("breast_cancer").config()
    train_idx, val_idx, _ = split_indices(y, cfg, classify=True, test_given=False)
    rows = np.concatenate([train_idx, val_idx])
    stats = merged.preprocessing["steps"][-1]
    np.testing.assert_allclose(stats["mean"], x[rows].mean(axis=0), rtol=1e-4)


def test_xgboost_refit_boosts_exactly_the_best_rounds_without_validation(cancer, tmp_path):
    plugin = discover_models().get("xgboost")
    cfg = plugin.config(n_estimators=300, early_stopping_rounds=20, learning_rate=0.2)
    result = train.fit(plugin, cfg, cancer, TrainerConfig())
    rounds = result.model.model.best_iteration + 1
    assert result.budget == {"n_estimators": rounds, "early_stopping_rounds": 0}
    assert rounds < 300  # early stopping did stop early, so the budget matters
    merged = cancer.merged()
    refit = train.refit(plugin, cfg, merged, TrainerConfig(), result.budget, workdir=tmp_path)
    assert refit.model.model.get_booster().num_boosted_rounds() == rounds
    test = train.evaluate(plugin, refit.model, merged, TrainerConfig(), "test")
    assert test["test_acc"] > 0.9


def test_lightning_refit_trains_the_best_epoch_count(tmp_path):
    data = discover_data().get("wine")
    wine = load_dataset(data, data.config())
    plugin = discover_models().get("mlp")
    trainer = TrainerConfig(max_epochs=6, accelerator="cpu")
    result = train.fit(plugin, plugin.config(), wine, trainer, seed=0)
    assert 1 <= result.budget["epochs"] <= 6
    refit = train.refit(plugin, plugin.config(), wine.merged(), trainer, {"epochs": 2}, seed=0)
    assert refit.epochs == 2
    test = train.evaluate(plugin, refit.model, wine.merged(), trainer, "test")
    assert test["test_acc"] > 0.8


def test_a_budget_naming_unknown_config_fields_is_an_error(cancer):
    plugin = discover_models().get("forest")
    with pytest.raises(ValueError, match="not config fields"):
        train.refit(plugin, plugin.config(), cancer.merged(), TrainerConfig(), {"rounds": 3})


@pytest.mark.heavy
def test_study_with_refit_exports_the_model_trained_on_train_and_val(tmp_path):
    out = run_cli(
        [
            "model=xgboost",
            "data=breast_cancer",
            "sweep.n_trials=3",
            "sweep.refit=true",
            f"hydra.run.dir={tmp_path / 'r'}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "refit" in out.stdout and "train+val rows" in out.stdout
    best = tmp_path / "r" / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["refit"]["rows"] == 455  # 569 rows minus the 20% test split
    assert metrics["refit"]["budget"]["early_stopping_rounds"] == 0
    config = OmegaConf.load(best / "config.yaml")
    assert config.refit.rows == 455
    # the exported model is the refitted one, and it reloads to the same test accuracy
    from sklearn.datasets import load_breast_cancer

    from automl.results.predictor import load_best

    predictor = load_best(best)
    rounds = predictor.model.model.get_booster().num_boosted_rounds()
    assert rounds == metrics["refit"]["budget"]["n_estimators"]
    x, y = load_breast_cancer(return_X_y=True)
    assert (predictor.predict(x) == y).mean() > 0.95


@pytest.mark.slow  # two k-fold studies; refit and k-fold each have a quick test
def test_kfold_study_refits_by_default_and_refit_false_turns_it_off(tmp_path):
    common = ["model=forest", "data=wine", "data.folds=3", "sweep.n_trials=2"]
    on = run_cli([*common, f"hydra.run.dir={tmp_path / 'on'}"], tmp_path)
    assert on.returncode == 0, on.stderr
    assert json.loads((tmp_path / "on" / "best" / "metrics.json").read_text())["refit"]["rows"]
    off = run_cli([*common, "sweep.refit=false", f"hydra.run.dir={tmp_path / 'off'}"], tmp_path)
    assert off.returncode == 0, off.stderr
    assert "refit" not in json.loads((tmp_path / "off" / "best" / "metrics.json").read_text())


@pytest.mark.heavy
def test_single_run_refits_too_when_asked(tmp_path):
    out = run_cli(
        [
            "model=xgboost",
            "data=breast_cancer",
            "sweep=none",
            "sweep.refit=true",
            f"hydra.run.dir={tmp_path / 'r'}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("refit:"))
    assert "455 train+val rows" in line and "early_stopping_rounds=0" in line
    metrics = json.loads((tmp_path / "r" / "single" / "metrics.json").read_text())
    assert metrics["test"]["test_acc"] > 0.9 and metrics["refit"]["rows"] == 455
    # sweep=none's output loads like a study's best/.
    from automl.results.predictor import load_best

    predictor = load_best(tmp_path / "r" / "single")
    assert predictor.predict(np.zeros((2, 30), np.float32)).shape == (2,)


def test_fold_budgets_average_counts_and_keep_switches_that_are_off():
    folds = [
        {"n_estimators": 10, "early_stopping_rounds": 0, "mode": "a"},
        {"n_estimators": 13, "early_stopping_rounds": 0, "mode": "b"},
        {"n_estimators": 14, "early_stopping_rounds": 0, "mode": "c"},
    ]
    assert mean_budget(folds) == {
        "n_estimators": 12,
        "early_stopping_rounds": 0,  # XGBoost's refit budget turns early stopping off
        "mode": "a",
    }
    assert mean_budget([{"epochs": 1}, {"epochs": 1}, {"epochs": 2}]) == {"epochs": 1}
