"""k-fold cross-validation: folds partition the non-test rows; trials report the running mean."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from helpers import run_cli

from automl.core.errors import TrialPruned
from automl.core.registry import discover_data, discover_models
from automl.data import load_dataset
from automl.study import train
from automl.study.config import TrainerConfig


@pytest.fixture(scope="module")
def wine_folds():
    plugin = discover_data().get("wine")
    return load_dataset(plugin, plugin.config(folds=3))


@pytest.mark.parametrize("folds", [1, -2])
def test_fewer_than_two_folds_is_a_clear_error(folds):
    from automl.core.errors import DataError

    plugin = discover_data().get("wine")
    with pytest.raises(DataError, match=rf"data.folds={folds}: .* at least 2 folds"):
        load_dataset(plugin, plugin.config(folds=folds))


def test_folds_partition_the_non_test_rows_and_share_the_test_split(wine_folds):
    folds = wine_folds.folds
    assert len(folds) == 3 and folds[0] is wine_folds
    sizes = [len(f.val) for f in folds]
    assert sum(sizes) == len(folds[0].train) + len(
        folds[0].val
    )  # every non-test row validates once
    for f in folds[1:]:
        np.testing.assert_array_equal(f.test.y, folds[0].test.y)
    # standardization is fitted on each fold's own training rows
    means = [f.preprocessing["steps"][-1]["mean"] for f in folds]
    assert not np.allclose(means[0], means[1])
    # stratified: every fold validates on every class
    assert all(set(np.unique(f.val.y)) == {0, 1, 2} for f in folds)


def test_trial_value_is_the_mean_over_folds_reported_fold_by_fold(wine_folds, tmp_path):
    plugin = discover_models().get("forest")
    reports = []
    result = train.fit(
        plugin,
        plugin.config(),
        wine_folds,
        TrainerConfig(),
        report=lambda step, value: reports.append((step, value)) and False,
        workdir=tmp_path,
    )
    per_fold = [  # each fold alone (fold 0 carries the list of folds; strip it)
        train.fit(plugin, plugin.config(), replace(f, folds=[]), TrainerConfig()).value
        for f in wine_folds.folds
    ]
    assert result.value == pytest.approx(np.mean(per_fold))
    assert [s for s, _ in reports] == [0, 1, 2]
    assert reports[-1][1] == pytest.approx(result.value)
    assert "val_acc_std" in result.metrics
    assert result.artifact is not None  # fold 0's model is the trial's model


def test_a_bad_running_mean_prunes_between_folds(wine_folds):
    plugin = discover_models().get("forest")
    with pytest.raises(TrialPruned) as pruned:
        train.fit(plugin, plugin.config(), wine_folds, TrainerConfig(), report=lambda s, v: s == 1)
    assert pruned.value.epoch == 1


@pytest.mark.heavy
def test_kfold_study_from_the_command_line(tmp_path):
    out = run_cli(
        [
            "model=xgboost",
            "data=breast_cancer",
            "data.folds=3",
            "sweep.n_trials=2",
            f"hydra.run.dir={tmp_path / 'r'}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    board = json.loads((tmp_path / "r" / "leaderboard.json").read_text())
    assert len(board["trials"]) == 2
    assert all("val_acc_std" in t["metrics"] for t in board["trials"] if t["state"] == "COMPLETE")
    assert (tmp_path / "r" / "best" / "model.json").exists()
    # A k-fold trial's length is its folds, under the "folds" label: not its boosting rounds
    # summed over the folds (a 5-fold study once printed folds=1800 for one XGBoost trial).
    assert board["steps"] == "folds"
    assert [t["epochs"] for t in board["trials"]] == [3, 3]
    lines = [line for line in out.stdout.splitlines() if line.startswith("[trial")]
    assert len(lines) == 2 and all(" folds=3 " in line for line in lines), lines
