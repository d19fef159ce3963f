"""Warm starts: the default configuration first, and an earlier study's best configurations."""

from __future__ import annotations

import os

import optuna
import pytest
from helpers import compose
from rich.console import Console

from automl.core.errors import UserError
from automl.core.registry import discover_data, discover_models
from automl.core.space import Choice, Float, Int
from automl.study.plan import make_plan
from automl.tuning import run_study
from automl.tuning.warm import fit_to_space, split_target


def _run(run_dir, overrides, model="linear", data="wine"):
    models, datas = discover_models(), discover_data()
    cfg = compose([f"model={model}", f"data={data}", *overrides], models, datas)
    plan = make_plan(cfg, model, data, models, datas, run_dir, overrides)
    console = Console(record=True, width=200, file=open(os.devnull, "w"))
    outcome = run_study(plan, console)
    study = optuna.load_study(
        study_name=plan.study_name, storage=f"sqlite:///{run_dir / 'study.db'}"
    )
    return outcome, study, console.export_text()


def test_trial_0_is_the_default_configuration_once(tmp_path):
    run_dir = tmp_path / "run"
    _, study, text = _run(run_dir, ["sweep.n_trials=3", "sweep.study_name=d"])
    first = study.trials[0]
    assert first.params == {"alpha": 1.0, "l1_ratio": 0.0}  # LinearConfig's defaults
    assert first.user_attrs["note"] == "default configuration"
    assert "trial 0: default configuration (sweep.enqueue_defaults)" in text
    # A resume (more trials) never enqueues the defaults again.
    _, study, text = _run(run_dir, ["sweep.n_trials=5", "sweep.study_name=d"])
    assert len(study.trials) == 5
    assert [t.number for t in study.trials if "note" in t.user_attrs] == [0]
    assert "default configuration" not in text
    # Off: trial 0 is sampled like any other.
    _, study, _ = _run(tmp_path / "off", ["sweep.n_trials=1", "sweep.enqueue_defaults=false"])
    assert study.trials[0].params != {"alpha": 1.0, "l1_ratio": 0.0}
    assert "note" not in study.trials[0].user_attrs


def test_warm_start_enqueues_the_earlier_best_configurations_first(tmp_path):
    _, old, _ = _run(
        tmp_path / "a", ["sweep.n_trials=6", "sweep.study_name=old", "sweep.sampler=random"]
    )
    ranked = sorted(
        (t for t in old.trials if t.state.name == "COMPLETE"), key=lambda t: (-t.value, t.number)
    )
    # The new study pins l1_ratio (no longer searched) and narrows alpha.
    _, new, text = _run(
        tmp_path / "b",
        [
            "sweep.n_trials=4",
            "sweep.study_name=new",
            f"sweep.warm_start={tmp_path / 'a'}",
            "sweep.warm_start_k=3",
            "space.l1_ratio=0.0",
            "space.alpha.high=1.0",
        ],
    )
    for mine, theirs in zip(new.trials[:3], ranked[:3], strict=True):
        assert mine.params == {"alpha": min(theirs.params["alpha"], 1.0)}
        assert mine.user_attrs["note"] == f"warm start: old #{theirs.number}"
    # The defaults come after them (trial 3) unless one of them is the defaults already.
    warm = [t.params for t in new.trials[:3]]
    if {"alpha": 1.0} in warm:
        assert "note" not in new.trials[3].user_attrs
    else:
        assert new.trials[3].user_attrs["note"] == "default configuration"
    # Each change to the old configurations is a note.
    assert "warm start: 3 configuration(s) of study 'old'" in text
    assert "warm start: l1_ratio dropped (not searched here) in 3 configuration(s)" in text
    # The old study was only read.
    storage = f"sqlite:///{tmp_path / 'a' / 'study.db'}"
    assert len(optuna.load_study(study_name="old", storage=storage).trials) == 6


def test_warm_start_names_a_study_in_a_storage_url_and_refuses_another_model(tmp_path):
    _run(tmp_path / "a", ["sweep.n_trials=2", "sweep.study_name=first"])
    url = f"sqlite:///{tmp_path / 'a' / 'study.db'}"
    _, new, _ = _run(
        tmp_path / "b",
        [
            "sweep.n_trials=1",
            f"sweep.warm_start='{url}:first'",
            "sweep.warm_start_k=1",
            "sweep.enqueue_defaults=false",
        ],
    )
    assert new.trials[0].user_attrs["note"].startswith("warm start: first #")
    with pytest.raises(UserError, match="searched model linear, not xgboost"):
        _run(tmp_path / "c", ["sweep.n_trials=1", f"sweep.warm_start={tmp_path / 'a'}"], "xgboost")


def test_split_target_and_fit_to_space():
    assert split_target("runs/x:my-study") == ("runs/x", "my-study")
    assert split_target("runs/x") == ("runs/x", None)
    assert split_target("sqlite:///runs/x/study.db") == ("sqlite:///runs/x/study.db", None)
    assert split_target("sqlite:///runs/x/study.db:s1") == ("sqlite:///runs/x/study.db", "s1")
    assert split_target("postgresql://u:pw@db:5432/studies") == (
        "postgresql://u:pw@db:5432/studies",
        None,
    )
    space = {"lr": Float(1e-4, 1e-2, log=True), "n": Int(2, 10, step=2), "opt": Choice(["adam"])}
    fitted, changes = fit_to_space({"lr": 0.5, "n": 5, "opt": "sgd", "gone": 1}, space)
    assert fitted == {"lr": 1e-2, "n": 6}
    assert dict(changes) == {
        "lr": "clipped into [0.0001, 0.01] log",
        "n": "clipped into [2, 10]",
        "opt": "dropped (not among its choices)",
        "gone": "dropped (not searched here)",
    }


def test_a_null_default_is_trial_0s_value_not_a_sampled_one(tmp_path):
    # The forest's max_depth defaults to null (grow until pure), a value its space offers.
    _, study, text = _run(tmp_path / "run", ["sweep.n_trials=1"], "forest", "wine")
    first = study.trials[0]
    assert first.user_attrs["note"] == "default configuration"
    assert "max_depth" in first.params and first.params["max_depth"] is None
    assert first.params == {"algorithm": "random_forest", "n_estimators": 200, "max_depth": None,
                            "min_samples_leaf": 1, "max_features": 0.5}  # fmt: skip
    assert "moved into the space" not in text
    # A range cannot hold null: the default trial then draws it, and says so before the study.
    fitted, changes = fit_to_space(
        {"depth": None, "leaf": None}, {"depth": Int(2, 8), "leaf": Choice([None, 1])}
    )
    assert fitted == {"leaf": None}
    assert dict(changes) == {"depth": "dropped (null, which only a choice can offer)"}
