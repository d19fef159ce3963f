"""Tree plugins (xgboost, forest), the diabetes regression set and the estimator path.

Everything here trains real XGBoost / scikit-learn models on the built-in data sets, kept small
(tens of rounds or trees) so the file runs in well under a minute on 2 cores.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

from automl.core.errors import TrialPruned, UserError
from automl.core.registry import discover_data, discover_models
from automl.data import load_dataset
from automl.study import train
from automl.study.config import TrainerConfig

REPO = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def _registries():
    return discover_models(), discover_data()


def _plugin(name: str):
    return _registries()[0].get(name)


def _data(name: str):
    plugin = _registries()[1].get(name)
    return load_dataset(plugin, plugin.config())


def _cfg(model: str, **values):
    return dataclasses.replace(_plugin(model).config(), **values)


def _fit(model: str, data: str, report=None, workdir=None, **values) -> train.FitResult:
    return train.fit(
        _plugin(model),
        _cfg(model, **values),
        _data(data),
        TrainerConfig(),
        report=report,
        workdir=workdir,
    )


class Recorder:
    """A ``report`` function that records every call and asks to stop at ``stop_at``."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.calls: list[tuple[int, float]] = []
        self.stop_at = stop_at

    def __call__(self, step: int, value: float) -> bool:
        self.calls.append((step, value))
        return self.stop_at is not None and step >= self.stop_at


# --- plugin declarations -------------------------------------------------------------------


def test_tree_plugins_are_discovered_without_importing_heavy_code():
    code = (
        "import sys\n"
        "from automl.core.registry import discover_models, discover_data\n"
        "m, d = discover_models(), discover_data()\n"
        "assert {'xgboost', 'forest'} <= set(m.names()), (m.names(), m.failures)\n"
        "assert 'diabetes' in d.names(), d.names()\n"
        "heavy = [n for n in ('xgboost', 'sklearn', 'torch') if n in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


@pytest.mark.parametrize("name", ["xgboost", "forest"])
def test_tree_plugin_declarations(name):
    plugin = _plugin(name)
    assert plugin.kind == "estimator"
    assert set(plugin.tasks) == {"classification", "regression"}
    assert 1 in plugin.input_ranks
    assert plugin.default_data == "breast_cancer"
    assert plugin.load is not None
    assert plugin.objective("classification") == ("acc", "maximize")
    assert plugin.objective("regression") == ("rmse", "minimize")


def test_xgboost_space_uses_log_scales_for_rates_and_penalties():
    space = _plugin("xgboost").search_space
    for name in ("learning_rate", "reg_lambda", "reg_alpha"):
        assert space[name].log, name


def test_xgboost_device_resolution():
    from automl_plugins.xgboost_model import resolve_device

    from automl.core.gpus import driver_gpu_count

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("cuda:1") == "cuda:1"
    assert resolve_device("auto") == ("cuda" if (driver_gpu_count() or 0) > 0 else "cpu")
    with pytest.raises(UserError, match="model.device='tpu' is not one of auto, cpu, cuda"):
        resolve_device("tpu")


# --- xgboost -------------------------------------------------------------------------------


def test_xgboost_breast_cancer_accuracy_and_reported_metric():
    report = Recorder()
    result = _fit("xgboost", "breast_cancer", report=report, report_every=1)
    dataset = _data("breast_cancer")
    test = train.evaluate(_plugin("xgboost"), result.model, dataset, TrainerConfig())
    assert result.metrics["val_acc"] >= 0.93
    assert test["test_acc"] >= 0.92
    # Early stopping ended boosting before the 500-round bound; every round was reported.
    booster = result.model.model.get_booster()
    assert booster.num_boosted_rounds() < 500
    assert [s for s, _ in report.calls] == list(range(booster.num_boosted_rounds()))
    # The reported value is the study metric itself: at the kept (best) round it equals
    # the validation accuracy computed by automl.core.metrics from predict().
    best = result.model.model.best_iteration
    assert report.calls[best][1] == pytest.approx(result.value, abs=1e-9)
    assert result.value == result.metrics["val_acc"]


def test_xgboost_report_every_k_rounds():
    report = Recorder()
    _fit("xgboost", "breast_cancer", report=report, n_estimators=40, report_every=10,
         early_stopping_rounds=0)  # fmt: skip
    assert [s for s, _ in report.calls] == [9, 19, 29, 39]


def test_xgboost_stops_and_raises_when_report_says_prune():
    report = Recorder(stop_at=4)
    estimator = train.resolve(_plugin("xgboost").build)(
        _cfg("xgboost", report_every=1), _data("breast_cancer").spec
    )
    data = _data("breast_cancer")
    with pytest.raises(TrialPruned) as info:
        estimator.fit((data.train.x, data.train.y), (data.val.x, data.val.y), report)
    assert info.value.epoch == 4
    assert info.value.value == report.calls[-1][1]
    # Boosting really stopped at the pruned round, far below n_estimators.
    assert estimator.model.get_booster().num_boosted_rounds() == 5
    assert len(report.calls) == 5


def test_train_fit_propagates_xgboost_pruning(tmp_path):
    with pytest.raises(TrialPruned) as info:
        _fit("xgboost", "breast_cancer", report=Recorder(stop_at=19), workdir=tmp_path)
    assert info.value.epoch == 19
    assert not (tmp_path / "model.json").exists()  # a pruned trial saves nothing


@pytest.mark.parametrize("data", ["breast_cancer", "wine", "diabetes"])
def test_xgboost_json_save_reload_gives_identical_predictions(tmp_path, data):
    result = _fit("xgboost", data, workdir=tmp_path, n_estimators=60, early_stopping_rounds=10)
    assert result.artifact == str(tmp_path / "model.json")
    json.loads(Path(result.artifact).read_text())  # XGBoost's JSON format, not a pickle
    plugin, dataset = _plugin("xgboost"), _data(data)
    loaded = train.load_model(plugin, tmp_path, _cfg("xgboost"), dataset.spec)
    np.testing.assert_array_equal(
        loaded.predict(dataset.test.x), result.model.predict(dataset.test.x)
    )
    if dataset.spec.task == "classification":
        np.testing.assert_array_equal(
            loaded.predict_proba(dataset.test.x), result.model.predict_proba(dataset.test.x)
        )
    # The early-stopping round survives the round trip (predictions use the best round).
    assert loaded.model.best_iteration == result.model.model.best_iteration
    assert train.evaluate(plugin, loaded, dataset, TrainerConfig()) == train.evaluate(
        plugin, result.model, dataset, TrainerConfig()
    )


def test_xgboost_flattens_image_inputs():
    plugin = _registries()[1].get("digits")
    dataset = load_dataset(plugin, plugin.config(view="image"))
    assert dataset.spec.rank == 3
    model_plugin = _plugin("xgboost")
    result = train.fit(
        model_plugin, _cfg("xgboost", n_estimators=5), dataset, TrainerConfig(), report=None
    )
    assert result.model.predict(dataset.test.x).shape == (len(dataset.test),)
    assert result.metrics["val_acc"] > 0.5


# --- forest --------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["random_forest", "extra_trees"])
@pytest.mark.parametrize("data", ["breast_cancer", "diabetes"])
def test_forest_stages_report_and_reload(tmp_path, algorithm, data):
    report = Recorder()
    result = _fit("forest", data, report=report, workdir=tmp_path, algorithm=algorithm,
                  n_estimators=40, stages=4)  # fmt: skip
    dataset, plugin = _data(data), _plugin("forest")
    assert [s for s, _ in report.calls] == [0, 1, 2, 3]
    assert len(result.model.model.estimators_) == 40
    assert result.epochs == 4
    key = "val_acc" if dataset.spec.task == "classification" else "val_rmse"
    assert report.calls[-1][1] == result.metrics[key] == result.value
    if dataset.spec.task == "classification":
        assert result.value >= 0.9
    else:
        assert result.value < 70.0  # the target's spread is ~77; the forest must beat the mean
    loaded = train.load_model(plugin, tmp_path, _cfg("forest"), dataset.spec)
    np.testing.assert_array_equal(
        loaded.predict(dataset.test.x), result.model.predict(dataset.test.x)
    )


def test_forest_staged_growth_equals_one_fit():
    from sklearn.ensemble import RandomForestRegressor

    dataset = _data("diabetes")
    result = _fit("forest", "diabetes", report=Recorder(), n_estimators=30, stages=3, seed=7)
    direct = RandomForestRegressor(
        n_estimators=30, max_features=0.5, min_samples_leaf=1, random_state=7
    ).fit(dataset.train.x, dataset.train.y)
    np.testing.assert_allclose(
        result.model.predict(dataset.test.x), direct.predict(dataset.test.x), rtol=1e-6
    )


def test_forest_prunes_between_stages():
    with pytest.raises(TrialPruned) as info:
        estimator = train.resolve(_plugin("forest").build)(
            _cfg("forest", n_estimators=40, stages=4), _data("breast_cancer").spec
        )
        data = _data("breast_cancer")
        estimator.fit((data.train.x, data.train.y), (data.val.x, data.val.y), Recorder(stop_at=1))
    assert info.value.epoch == 1
    assert len(estimator.model.estimators_) == 20  # half the trees were never grown


def test_forest_rejects_unknown_algorithm():
    with pytest.raises(UserError, match="model.algorithm='gbm' is not one of"):
        train.resolve(_plugin("forest").build)(
            _cfg("forest", algorithm="gbm"), _data("breast_cancer").spec
        )


# --- diabetes and regression ---------------------------------------------------------------


def test_diabetes_is_a_float_regression_split():
    dataset = _data("diabetes")
    spec = dataset.spec
    assert (spec.task, spec.input_shape, spec.n_classes) == ("regression", (10,), None)
    assert all(isinstance(n, str) for n in spec.feature_names)
    assert dataset.train.y.dtype == np.float32
    assert len(dataset.train) + len(dataset.val) + len(dataset.test) == 442
    assert len(dataset.test) == 89  # test_fraction 0.2, unstratified
    assert len(np.unique(dataset.train.y)) > 100  # real-valued targets, not classes


def test_regression_metrics_match_scikit_learn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    from automl.core.metrics import regression_metrics

    rng = np.random.default_rng(0)
    y, p = rng.normal(size=50), rng.normal(size=50)
    got = regression_metrics(y, p)
    assert got["rmse"] == pytest.approx(np.sqrt(mean_squared_error(y, p)))
    assert got["mae"] == pytest.approx(mean_absolute_error(y, p))
    assert got["r2"] == pytest.approx(r2_score(y, p))


# --- studies -------------------------------------------------------------------------------


def _plan(tmp_path, model: str, data: str, *overrides: str):
    from hydra import compose, initialize_config_module

    from automl.study.config import register_configs
    from automl.study.plan import make_plan

    models, datas = _registries()
    register_configs(models, datas)
    with initialize_config_module("automl.conf", version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[f"model={model}", f"data={data}", "sweep.study_name=test", *overrides],
        )
    return make_plan(cfg, model, data, models, datas, tmp_path)


def _run(plan):
    from rich.console import Console

    from automl.tuning import run_study

    return run_study(plan, Console(file=io.StringIO(), width=120))


def test_study_prunes_xgboost_trials_by_their_reported_accuracy(tmp_path):
    import optuna

    plan = _plan(
        tmp_path,
        "xgboost",
        "breast_cancer",
        "sweep.n_trials=2",
        "sweep.sampler=random",
        "model.n_estimators=80",
        # Only the learning rate is searched: with no configuration drawn twice, two trials
        # try both of its values.
        *(
            f"~space.{name}"
            for name in (
                "max_depth",
                "min_child_weight",
                "subsample",
                "colsample_bytree",
                "reg_lambda",
                "reg_alpha",
                "gamma",
            )
        ),
        # lr 1e-4 leaves every prediction at the class prior (accuracy ~0.63) after 10
        # rounds; lr 0.3 is above 0.9 by then. The threshold pruner must stop exactly the former.
        # A float parameter becomes a choice by deleting it and adding it back.
        "~space.learning_rate",
        "+space.learning_rate={type:choice,choices:[0.0001,0.3]}",
    )
    sweep = dataclasses.replace(plan.sweep, pruner="threshold", pruner_args={"lower": 0.9})
    plan = dataclasses.replace(plan, sweep=sweep)
    outcome = _run(plan)
    study = optuna.load_study(study_name="test", storage=f"sqlite:///{tmp_path / 'study.db'}")
    trials = study.get_trials()
    assert outcome.n_pruned >= 1 and outcome.n_complete >= 1, [t.params for t in trials]
    for t in trials:
        slow = t.params["learning_rate"] == 0.0001
        assert (t.state == optuna.trial.TrialState.PRUNED) == slow, (t.number, t.params)
        if slow:
            assert sorted(t.intermediate_values) == [9]
            assert t.user_attrs["epochs"] == 10  # 10 of 80 rounds run
        else:
            assert t.user_attrs["epochs"] > 10
    assert (tmp_path / "best" / "model.json").exists()
    assert "test_acc" in outcome.test_metrics


def test_study_minimizes_rmse_on_diabetes(tmp_path):
    plan = _plan(tmp_path, "xgboost", "diabetes", "sweep.n_trials=3", "model.n_estimators=100")
    outcome = _run(plan)
    assert (outcome.metric, outcome.direction) == ("rmse", "minimize")
    assert outcome.n_complete == 3
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    values = [r["value"] for r in board["trials"] if r["state"] == "COMPLETE"]
    assert outcome.best_value == min(values)
    assert {"test_rmse", "test_mae", "test_r2"} <= set(outcome.test_metrics)
    assert outcome.test_metrics["test_rmse"] < 75.0  # well under the target's spread
    saved = json.loads((tmp_path / "best" / "metrics.json").read_text())
    assert {"val_rmse", "val_r2"} <= set(saved["validation"])


# --- command line --------------------------------------------------------------------------


@pytest.mark.heavy
def test_cli_xgboost_study_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(["model=xgboost", "sweep.n_trials=3", f"hydra.run.dir={run_dir}"], REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert len(board["trials"]) == 3
    assert (run_dir / "best" / "model.json").exists()

    from automl.results.predictor import load_best

    predictor = load_best(run_dir / "best", _registries()[0])
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    assert (predictor.predict(x) == y).mean() > 0.9  # raw inputs: preprocessing re-applied
