"""A study's own record and header, decided once: the StudyRecord (one writer, one reader),
the header every view draws from it, and one rule each for the trial total and the device."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import optuna
import pytest
from helpers import compose, entry_point, make_dist, run_cli

from automl.core.records import steps_label
from automl.core.registry import MODEL_GROUP, discover_data, discover_models
from automl.core.study_record import StudyHeader, StudyRecord
from automl.study.plan import make_plan
from automl.study.run import prepare


def test_a_study_record_round_trips_and_drops_what_it_cannot_trust():
    record = StudyRecord(
        model="mlp",
        data="wine",
        metric="acc",
        direction="maximize",
        n_trials=20,
        total=6,
        objectives=("val_acc:max", "latency_ms:min"),
        constraints=("n_params<=1000",),
        steps="epochs",
    )
    attrs = record.attrs()
    assert attrs["objectives"] == ["val_acc:max", "latency_ms:min"]  # JSON keeps lists
    assert "fingerprint" not in attrs and "best_test_metrics" not in attrs  # unset: not written
    assert StudyRecord.from_attrs(json.loads(json.dumps(attrs))) == record
    hand_made = {"n_trials": "20", "direction": "up", "total": True, "families": "mlp", "x": 1}
    assert StudyRecord.from_attrs(hand_made) == StudyRecord()


def test_the_header_of_an_older_study_comes_from_what_it_recorded():
    """A study of an earlier automl recorded model, data, metric, direction and n_trials only."""
    old = StudyRecord.from_attrs(
        {"model": "cnn", "data": "digits", "metric": "acc", "direction": "maximize", "n_trials": 9}
    )
    header = StudyHeader.of(old, "cnn-digits", steps=steps_label(["epoch", "epoch"]))
    assert (header.metric, header.n_trials, header.steps) == ("val_acc", 9, "epochs")
    assert header.objective_list() == [("val_acc", "maximize")]
    assert header.as_dict()["objectives"] == [{"key": "val_acc", "direction": "maximize"}]
    bare = StudyHeader.of(StudyRecord(), "s", directions=["minimize"], metric_names=["val_rmse"])
    assert (bare.metric, bare.direction, bare.n_trials, bare.steps) == (
        "val_rmse",
        "minimize",
        None,
        "length",
    )


def test_steps_label_is_one_rule_for_every_view():
    assert steps_label(["fold", "fold"]) == "folds"
    assert steps_label(["epoch", None]) == "epochs"
    assert steps_label(["epoch", "step"]) == "length"  # model=auto without folds
    assert steps_label([]) == "length"


@pytest.mark.heavy
def test_a_grid_smaller_than_n_trials_is_the_total_everywhere(tmp_path):
    """The loop, the header, the stored record and ``watch`` all count to the grid's 4 points
    (``watch`` used to wait for sweep.n_trials=10 forever; the study itself crashed once the
    grid was covered: Optuna's grid sampler stops ``study.optimize``, which automl does not
    run)."""
    run_dir = tmp_path / "run"
    out = run_cli(
        [
            "model=linear",
            "data=breast_cancer",
            "sweep.sampler=grid",
            "+sweep.sampler_args.grid_points=2",
            "sweep.n_trials=10",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("[trial")]
    assert [line.split("done=")[1].split()[0] for line in lines] == ["1/4", "2/4", "3/4", "4/4"]
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert board["n_trials"] == 4 and len(board["trials"]) == 4
    assert (run_dir / "best" / "metrics.json").exists()
    study = optuna.load_study(study_name=board["study"], storage=f"sqlite:///{run_dir}/study.db")
    record = StudyRecord.from_attrs(study.user_attrs)
    assert (record.n_trials, record.total, record.steps) == (10, 4, "steps")
    watched = run_cli(["watch", str(run_dir), "--interval", "0.1"], tmp_path, timeout=120)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.splitlines()[-1] == f"study {board['study']} holds its 4 trials"


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    dist = make_dist(tmp_path_factory.mktemp("site"), "automl-fakes", "0.1")
    eps = list(entry_points(group=MODEL_GROUP)) + [
        entry_point("on_device", "fake_plugins:ON_DEVICE", MODEL_GROUP, dist),
    ]
    return discover_models(eps), discover_data()


def _prepared(registries, tmp_path, model):
    models, data = registries
    cfg = compose([f"model={model}", "data=wine"], models, data)
    return prepare(make_plan(cfg, model, "wine", models, data, tmp_path / "run"))


def test_the_device_is_where_the_estimator_says_it_trains(registries, tmp_path):
    """The estimator backend used to say "cpu" for every estimator, while XGBoost trained on
    CUDA where it could; now the model's own ``device()`` is the run's, its record's and its
    header's."""
    from automl.tuning.opening import study_header

    run = _prepared(registries, tmp_path, "on_device")
    assert run.device == "cuda:3" and run.families["on_device"].device == "cuda:3"
    assert run.record.device == "cuda:3" and study_header(run).as_dict()["device"] == "cuda:3"

    from automl_plugins.xgboost_model import resolve_device

    xgb = _prepared(registries, tmp_path, "xgboost")
    assert xgb.device == resolve_device("auto")  # "cuda" on a machine with a GPU


def test_a_prepared_runs_settings_cannot_change_under_it(registries, tmp_path):
    """``prepare`` decides from the plan's settings once; a later ``run.plan.sweep.x = ...``
    (nested settings included) used to be accepted and silently ignored. Now it is refused,
    and a changed copy is the way to a different plan."""
    import dataclasses

    run = _prepared(registries, tmp_path, "forest")
    with pytest.raises(dataclasses.FrozenInstanceError, match="dataclasses.replace"):
        run.plan.sweep.n_trials = 99
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.plan.sweep.slurm.partition = "gpu"
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.plan.trainer.max_epochs = 1
    more = dataclasses.replace(run.plan.sweep, n_trials=99)
    assert more.n_trials == 99 and run.plan.sweep.n_trials != 99
    with pytest.raises(dataclasses.FrozenInstanceError):
        more.n_trials = 5  # a copy is decided too
    rerun = prepare(dataclasses.replace(run.plan, sweep=more))
    assert rerun.budget.total == 99
