"""SupervisedModule as plugin authors extend it, through the CLI: a subclass keeps its own
validation lists under any name, and an extra metric given by argument is logged, tested,
optimized and trained in the lean loop."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
from fake_supervised import balanced_acc, build_balanced
from helpers import TESTS, install_entry_points, run_cli

from automl.backends.lightning import LightningBackend
from automl.core.registry import discover_data
from automl.study.config import TrainerConfig


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    site = install_entry_points(
        tmp_path_factory.mktemp("site"),
        "automl-supervised-examples",
        "0.1",
        {
            "automl.models": {
                "seen_targets": "fake_supervised:SEEN_TARGETS",
                "balanced": "fake_supervised:BALANCED",
            }
        },
    )
    return {"PYTHONPATH": os.pathsep.join([str(site), str(TESTS)])}


@pytest.mark.slow  # the in-process test below covers the same subclass on the product path
def test_a_subclass_with_its_own_targets_list_trains_through_the_cli(tmp_path, env):
    out = run_cli(
        ["model=seen_targets", "trainer=fast", "sweep.n_trials=2", "hydra.run.dir=run"],
        tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "batch_size" not in out.stdout + out.stderr
    board = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert [t["state"] for t in board["trials"]] == ["COMPLETE", "COMPLETE"]
    metrics = json.loads((tmp_path / "run" / "best" / "metrics.json").read_text())
    # Its own list saw the validation samples: wine's three classes.
    assert metrics["validation"]["val_classes_seen"] == 3.0


def test_a_subclass_with_its_own_outputs_list_trains_and_logs_its_metric():
    from fake_supervised import OWN_ACCURACY

    from automl.study import train
    from automl.testing import tiny_dataset, tiny_trainer

    data = tiny_dataset(OWN_ACCURACY)
    result = train.fit(OWN_ACCURACY, OWN_ACCURACY.config(), data, tiny_trainer(epochs=2))
    assert result.metrics["val_own_acc"] == pytest.approx(result.metrics["val_acc"])
    assert result.metrics["val_classes_seen"] == 3.0


@pytest.mark.heavy
def test_an_extra_metric_is_logged_tested_and_optimized_in_the_lean_loop(tmp_path, env):
    out = run_cli(
        [
            "model=balanced",
            "trainer=fast",
            "sweep.n_trials=2",
            "sweep.objectives=[val_balanced_acc]",
            "hydra.run.dir=run",
        ],
        tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    run = tmp_path / "run"
    board = json.loads((run / "leaderboard.json").read_text())
    assert board["objectives"] == [{"key": "val_balanced_acc", "direction": "maximize"}]
    assert all(t["state"] == "COMPLETE" for t in board["trials"])
    metrics = json.loads((run / "best" / "metrics.json").read_text())
    assert 0.0 <= metrics["validation"]["val_balanced_acc"] <= 1.0
    with open(run / "best" / "test_predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    truth = np.array([int(r["y_true"]) for r in rows])
    pred = np.array([int(r["y_pred"]) for r in rows])
    assert metrics["test"]["test_balanced_acc"] == pytest.approx(balanced_acc(pred, truth))
    # The model is a plain SupervisedModule: the lean loop trains it.
    wine = discover_data().get("wine")
    from automl.data import load_dataset

    spec = load_dataset(wine, wine.config()).spec
    module = build_balanced(type("Cfg", (), {"hidden": 8, "lr": 0.05})(), spec)
    assert LightningBackend(TrainerConfig(accelerator="cpu")).loop_for(module) is None


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ({"acc": balanced_acc}, "'acc' is a built-in metric"),
        ({"val-x": balanced_acc}, "'val-x' is not a usable metric name"),
        ({"x": 3}, "'x' is int, not a function"),
    ],
)
def test_a_bad_metric_is_refused_when_the_module_is_built(metrics, expected):
    from torch import nn

    from automl.backends.supervised import SupervisedModule
    from automl.core.plugin import DataSpec

    spec = DataSpec("d", "classification", (4,), n_classes=2)
    with pytest.raises(ValueError, match=expected):
        SupervisedModule(nn.Linear(4, 2), spec, metrics=metrics)


@pytest.mark.heavy
def test_a_misspelt_extra_metric_is_refused_before_training(tmp_path, env):
    # The preflight's module says what it reports: its extra metric is a valid objective
    # (above), a misspelling of it is one line naming it, before any trial or file.
    out = run_cli(["model=balanced", "trainer=fast", "sweep.objectives=[val_balanced_ac]",
                   "hydra.run.dir=run"], tmp_path, env=env)  # fmt: skip
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert "model balanced reports no val_balanced_ac" in out.stderr
    assert "val_loss, val_balanced_acc" in out.stderr and not (tmp_path / "run").exists()
