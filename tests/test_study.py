"""Studies in-process: failures with reasons, NaN metrics, pruning, resume, exports."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import optuna
import pytest
from helpers import compose, entry_point
from rich.console import Console

from automl.core.registry import MODEL_GROUP, discover_data, discover_models
from automl.study.plan import make_plan
from automl.tuning import run_study


@pytest.fixture
def registries(dist_factory):
    dist = dist_factory("automl-fakes", "0.1")
    eps = list(entry_points(group=MODEL_GROUP)) + [
        entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist),
        entry_point("flaky", "fake_plugins:FLAKY", MODEL_GROUP, dist),
        entry_point("no_refit", "fake_plugins:NO_REFIT", MODEL_GROUP, dist),
    ]
    return discover_models(eps), discover_data()


def plan_for(registries, tmp_path, model, overrides=()):
    models, data = registries
    cfg = compose(
        [
            f"model={model}",
            "data=wine",
            "trainer=fast",
            f"sweep.study_name={model}-test",
            *overrides,
        ],
        models,
        data,
    )
    return make_plan(cfg, model, "wine", models, data, tmp_path / "run")


def quiet():
    return Console(file=open("/dev/null", "w"), force_terminal=False)


def load(tmp_path, name):
    storage = f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    return optuna.load_study(study_name=name, storage=storage)


def test_failed_trials_keep_their_reason_and_the_study_goes_on(registries, tmp_path):
    plan = plan_for(registries, tmp_path, "flaky", ["sweep.n_trials=8", "sweep.sampler=random"])
    outcome = run_study(plan, quiet())
    study = load(tmp_path, "flaky-test")
    trials = study.get_trials()
    assert len(trials) == 8
    states = {t.state for t in trials}
    assert optuna.trial.TrialState.RUNNING not in states
    for t in trials:
        if t.params["crash"]:
            assert t.state.name == "FAIL"
            assert t.user_attrs["error"] == "RuntimeError: crash requested by config"
        elif t.params["explode"]:
            assert t.state.name == "FAIL"
            assert "val_acc is nan" in t.user_attrs["error"]
        else:
            assert t.state.name == "COMPLETE"
    assert outcome.n_failed == sum(t.state.name == "FAIL" for t in trials) > 0
    assert outcome.n_complete > 0
    board = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    notes = [row["note"] for row in board["trials"] if row["state"] == "FAIL"]
    assert any("crash requested" in n for n in notes)


def test_pruner_that_always_prunes_prunes_every_trial(registries, tmp_path):
    plan = plan_for(
        registries,
        tmp_path,
        "good",
        ["sweep.n_trials=3", "sweep.pruner=threshold", "+sweep.pruner_args.lower=2.0"],
    )
    outcome = run_study(plan, quiet())
    assert (outcome.n_pruned, outcome.n_complete) == (3, 0)
    trials = load(tmp_path, "good-test").get_trials()
    assert all(t.state.name == "PRUNED" and t.user_attrs["epochs"] == 1 for t in trials)
    assert all(len(t.intermediate_values) == 1 for t in trials)
    assert not (tmp_path / "run" / "best").exists()


def test_rerun_resumes_to_the_new_total_and_exports_best(registries, tmp_path):
    first = run_study(plan_for(registries, tmp_path, "good", ["sweep.n_trials=2"]), quiet())
    assert first.n_complete == 2
    before = {t.number: t.params for t in load(tmp_path, "good-test").get_trials()}
    second = run_study(plan_for(registries, tmp_path, "good", ["sweep.n_trials=3"]), quiet())
    trials = load(tmp_path, "good-test").get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert {t.number: t.params for t in trials if t.number < 2} == before
    assert second.n_complete == 3
    best = tmp_path / "run" / "best"
    assert {"model.pt", "config.yaml", "preprocessing.json", "metrics.json"} <= {
        p.name for p in best.iterdir()
    }
    metrics = json.loads((best / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["test_acc"] <= 1.0
    assert second.test_metrics == metrics["test"]


def test_best_model_reloads_and_predicts_raw_inputs(registries, tmp_path):
    from sklearn.datasets import load_wine

    from automl.results.predictor import load_best

    models, _ = registries
    run_study(
        plan_for(
            registries,
            tmp_path,
            "good",
            ["sweep.n_trials=1", "trainer.max_epochs=5", "space.lr=0.1", "space.hidden=8"],
        ),
        quiet(),
    )
    predictor = load_best(tmp_path / "run" / "best", models)
    x, y = load_wine(return_X_y=True)
    pred = predictor.predict(x)
    assert pred.shape == (len(x),)
    assert (pred == y).mean() > 0.5  # raw inputs go through the stored standardization


def test_a_failing_refit_keeps_the_study_result_and_exports_the_trial_model(registries, tmp_path):
    console = Console(record=True, width=200, file=open("/dev/null", "w"))
    plan = plan_for(registries, tmp_path, "no_refit", ["sweep.n_trials=2", "sweep.refit=true"])
    outcome = run_study(plan, console)
    assert outcome.n_complete == 2
    best = tmp_path / "run" / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["refit"]["failed"].startswith("TypeError")
    assert 0.5 < metrics["test"]["test_acc"] <= 1.0  # the trial's own model was tested
    assert (best / "centroids.npy").exists()
    assert "val=None" in (tmp_path / "run" / "refit" / "error.txt").read_text()
    text = console.export_text()
    assert "refit" in text and "failed (TypeError" in text and "own model" in text


def test_a_bad_timeout_is_refused_before_anything_runs(registries, tmp_path):
    from automl.core.errors import UserError

    with pytest.raises(UserError, match=r"sweep.timeout=0(\.0)? must be a number of seconds > 0"):
        plan_for(registries, tmp_path, "good", ["sweep.timeout=0"])


@pytest.mark.parametrize(
    "override, why",
    [("trainer.devices=0", "devices=0"), ("trainer.precision=banana", "Precision 'banana'")],
)
def test_trainer_settings_lightning_rejects_stop_the_study_before_it_starts(
    registries, tmp_path, override, why
):
    from automl.core.errors import UserError

    plan = plan_for(registries, tmp_path, "mlp", [override])
    with pytest.raises(UserError, match="Lightning cannot train with these here") as err:
        run_study(plan, quiet())
    assert why in str(err.value) and "trainer.accelerator=auto" in str(err.value)
    assert not (tmp_path / "run" / "study.db").exists()  # no study, no failed trials
