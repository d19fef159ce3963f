"""One study across reruns: no redrawn trials, reproducible seeds, and a changed study refused."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import optuna
import pytest
from helpers import compose, entry_point
from rich.console import Console

from automl.core.errors import StudyError, UserError
from automl.core.registry import MODEL_GROUP, discover_data, discover_models
from automl.study.identity import diff
from automl.study.plan import make_plan
from automl.tuning import run_study
from automl.tuning.sampling import StudySampler, derive_seed, distributions


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    from helpers import make_dist

    dist = make_dist(tmp_path_factory.mktemp("site"), "automl-fakes", "0.1")
    eps = list(entry_points(group=MODEL_GROUP)) + [
        entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist),
        entry_point("flaky", "fake_plugins:FLAKY", MODEL_GROUP, dist),
    ]
    return discover_models(eps), discover_data()


def plan_for(registries, run_dir, model="good", overrides=(), data="wine"):
    models, datasets = registries
    cfg = compose(
        [f"model={model}", f"data={data}", "trainer=fast", f"sweep.study_name={model}-t",
         "sweep.live=false", *overrides],
        models,
        datasets,
    )  # fmt: skip
    return make_plan(cfg, model, data, models, datasets, run_dir)


def quiet() -> Console:
    return Console(file=open("/dev/null", "w"), force_terminal=False)


def recorded(width: int = 200) -> Console:
    return Console(record=True, width=width, file=open("/dev/null", "w"), force_terminal=False)


def trials_of(run_dir, name="good-t"):
    return optuna.load_study(
        study_name=name, storage=f"sqlite:///{run_dir / 'study.db'}"
    ).get_trials()


def test_a_rerun_draws_new_configurations(registries, tmp_path):
    run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=2"]), quiet())
    run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=4"]), quiet())
    trials = trials_of(tmp_path)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 4


@pytest.mark.heavy
def test_one_uninterrupted_worker_reproduces_its_study(registries, tmp_path):
    for name in ("a", "b"):
        run_study(plan_for(registries, tmp_path / name, overrides=["sweep.n_trials=4"]), quiet())
    a, b = trials_of(tmp_path / "a"), trials_of(tmp_path / "b")
    assert [t.params for t in a] == [t.params for t in b]
    assert [t.value for t in a] == [t.value for t in b]
    c = tmp_path / "c"
    run_study(plan_for(registries, c, overrides=["sweep.n_trials=4", "sweep.seed=1"]), quiet())
    assert [t.params for t in trials_of(c)] != [t.params for t in a]


def test_a_trial_whose_worker_died_while_starting_it_is_re_run(registries, tmp_path):
    """A worker killed inside the admission lock, after Optuna created its trial but before
    anything else was written, leaves a RUNNING trial with no owner: the next worker that
    holds the lock fails it and re-runs its parameters, and the total still counts."""
    run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=1"]), quiet())
    study = optuna.load_study(study_name="good-t", storage=f"sqlite:///{tmp_path / 'study.db'}")
    orphan = study.ask()  # what the killed worker left: created, nothing recorded
    outcome = run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=3"]), quiet())
    trials = trials_of(tmp_path)
    lost = trials[orphan.number]
    assert lost.state.name == "FAIL" and lost.user_attrs["failure"] == "lost"
    assert "died while starting it" in lost.user_attrs["error"]
    assert [t.state.name for t in trials].count("RUNNING") == 0
    assert [t.state.name for t in trials].count("COMPLETE") == 3 and outcome.exit_code == 0


def test_trial_seeds_differ_per_trial_and_per_study_seed():
    seeds = {derive_seed(s, n) for s in range(3) for n in range(50)}
    assert len(seeds) == 150
    assert derive_seed(0, 7) == derive_seed(0, 7)


def test_a_duplicate_configuration_is_drawn_again_then_run_with_a_note():
    from automl.core.space import Choice

    space = {"a": Choice([1, 2])}
    sampler = StudySampler(
        lambda seed: optuna.samplers.RandomSampler(seed=seed), 0, distributions(space)
    )
    study = optuna.create_study(sampler=sampler)
    seen = []
    for _ in range(3):
        trial = study.ask()
        seen.append(trial.suggest_categorical("a", [1, 2]))
        study.tell(trial, 0.0)
    # The first two trials cover the space; the third cannot find a new point.
    assert sorted(seen[:2]) == [1, 2]
    assert 2 in sampler.duplicates and sampler.redrawn[2] > 0


def test_a_retry_keeps_its_parameters_through_the_sampler():
    from automl.core.space import Float

    space = {"x": Float(0.0, 1.0)}
    sampler = StudySampler(
        lambda seed: optuna.samplers.RandomSampler(seed=seed), 0, distributions(space)
    )
    study = optuna.create_study(sampler=sampler)
    study.enqueue_trial({"x": 0.25})
    trial = study.ask()
    assert trial.suggest_float("x", 0.0, 1.0) == 0.25


@pytest.mark.parametrize(
    "first, second, field",
    [
        ([], ["space.lr.log=false"], "space.lr: float log -> float"),
        ([], ["data.seed=1"], "data.seed: 0 -> 1"),
        ([], ["data.test_fraction=0.3"], "data.test_fraction: 0.2 -> 0.3"),
        ([], ["'space.hidden={type:choice,choices:[4,8,16]}'"], "space.hidden: choice {4, 8}"),
        ([], ["space.lr=0.05"], "space.lr: float [0.01, 0.1] log -> not searched"),
    ],
)
@pytest.mark.heavy
def test_a_changed_study_is_refused_with_the_diff(registries, tmp_path, first, second, field):
    second = [s.strip("'") for s in second]
    run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=1", *first]), quiet())
    with pytest.raises(StudyError) as err:
        run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=3", *second]), quiet())
    message = str(err.value)
    assert field in message
    assert "sweep.study_name=NEW_NAME" in message and "sweep.resume=force" in message
    assert len(trials_of(tmp_path)) == 1  # nothing ran


def test_a_moved_range_is_allowed_with_a_note_and_force_continues(registries, tmp_path):
    run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=1"]), quiet())
    console = recorded()
    outcome = run_study(
        plan_for(registries, tmp_path, overrides=["sweep.n_trials=2", "space.lr.low=0.02"]),
        console,
    )
    assert outcome.ran == 1 and outcome.exit_code == 0
    assert "changed (allowed): space.lr: float [0.01, 0.1] log -> float [0.02, 0.1] log" in (
        console.export_text()
    )
    console = recorded()
    run_study(
        plan_for(registries, tmp_path, overrides=["sweep.n_trials=3", "data.seed=4",
                                                  "sweep.resume=force"]),
        console,
    )  # fmt: skip
    assert "changed (forced): data.seed: 0 -> 4" in console.export_text()
    assert len(trials_of(tmp_path)) == 3


def test_diff_tells_a_range_change_from_a_type_change():
    from automl.core.space import Float, Int
    from automl.study.identity import fingerprint

    def fp(space):
        return fingerprint(model="m", model_config={"a": 1}, space=space, metric="acc",
                           direction="maximize", data="d", data_config={"seed": 0},
                           data_digest="x", trainer={})  # fmt: skip

    (moved,) = diff(fp({"p": Float(0.0, 1.0)}), fp({"p": Float(0.0, 2.0)}))
    assert moved.allowed
    (retyped,) = diff(fp({"p": Float(0.0, 1.0)}), fp({"p": Int(0, 1)}))
    assert not retyped.allowed and str(retyped) == "space.p: float -> int"


@pytest.mark.parametrize("name", ["../../etc/evil", "a/b", "", ".hidden", "x" * 200])
def test_study_names_that_are_paths_are_refused(registries, tmp_path, name):
    with pytest.raises(UserError, match="cannot name a study"):
        plan_for(registries, tmp_path, overrides=[f"sweep.study_name='{name}'"])


def test_a_failure_streak_stops_the_study_with_the_common_reason(registries, tmp_path):
    console = recorded()
    outcome = run_study(
        plan_for(registries, tmp_path, "flaky",
                 ["sweep.n_trials=10", "space.crash={type:choice,choices:[true]}",
                  "space.explode=false", "sweep.max_consecutive_failures=3"]),
        console,
    )  # fmt: skip
    assert outcome.ran == 3 and outcome.n_failed == 3 and outcome.exit_code == 1
    text = console.export_text()
    assert "3 trials in a row failed" in text
    assert "(3x): RuntimeError: crash requested by config" in text


def test_a_study_whose_trials_all_fail_exits_non_zero(registries, tmp_path):
    # Both parameters pinned: a space of one point, which runs once (not sweep.n_trials times).
    outcome = run_study(
        plan_for(registries, tmp_path, "flaky",
                 ["sweep.n_trials=2", "space.crash=false", "space.explode=true"]),
        quiet(),
    )  # fmt: skip
    assert outcome.ran == 1 and outcome.n_failed == 1 and outcome.exit_code == 1
    board = (tmp_path / "leaderboard.json").read_text()
    json.loads(board)  # strict JSON: no bare NaN
    assert "NaN" not in board


def test_a_per_trial_timeout_fails_the_trial_and_the_next_one_runs(registries, tmp_path):
    outcome = run_study(
        plan_for(registries, tmp_path,
                 overrides=["sweep.n_trials=2", "trainer.max_epochs=100000",
                            "sweep.trial_timeout=1"]),
        quiet(),
    )  # fmt: skip
    trials = trials_of(tmp_path)
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    assert all(t.user_attrs["error"] == "timeout after 1 s" for t in trials)
    assert all(t.user_attrs["failure"] == "timeout" and t.user_attrs["counts"] for t in trials)
    assert all(t.duration.total_seconds() < 30 for t in trials)
    assert outcome.exit_code == 1


def test_metrics_are_stored_one_attribute_each(registries, tmp_path):
    run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=1"]), quiet())
    (trial,) = trials_of(tmp_path)
    attrs = trial.user_attrs
    assert attrs["val_acc"] == attrs["metrics"]["val_acc"] == trial.value
    assert attrs["model_file"] == "model.pt" and "/" not in attrs["model_file"]
    assert attrs["unit"] == "epoch" and attrs["worker"].count("/") == 2


def test_the_export_finds_files_from_the_run_dir_never_from_storage(registries, tmp_path):
    import sqlite3

    run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=1"]), quiet())
    # Someone with write access to the database points the trial at a file of their choosing.
    with sqlite3.connect(tmp_path / "study.db") as db:
        db.execute(
            "UPDATE trial_user_attributes SET value_json = ? WHERE key = 'model_file'",
            (json.dumps("/etc/passwd"),),
        )
        db.execute(
            "INSERT INTO trial_user_attributes (trial_id, key, value_json) "
            "SELECT trial_id, 'dir', ? FROM trials",
            (json.dumps(str(tmp_path / "elsewhere")),),
        )
    (tmp_path / "best").rename(tmp_path / "best-before")
    outcome = run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=1"]), quiet())
    assert (
        outcome.test_metrics
        == json.loads((tmp_path / "best-before" / "metrics.json").read_text())["test"]
    )
    assert (tmp_path / "best" / "model.pt").exists()
    (trial,) = trials_of(tmp_path)
    from automl.core.records import record_of

    assert record_of(trial).model_file is None  # a path is not a file name: not trusted


def test_a_config_that_cannot_build_is_refused_before_the_study(registries, tmp_path):
    from automl.core.errors import PluginError

    with pytest.raises(PluginError, match="failed its preflight.*crash requested by config"):
        run_study(plan_for(registries, tmp_path, "flaky", ["space.crash=true"]), quiet())
    assert not (tmp_path / "study.db").exists()


def test_a_space_with_no_point_left_runs_a_repeat_with_a_note(registries, tmp_path):
    outcome = run_study(
        plan_for(registries, tmp_path, overrides=["sweep.n_trials=3", "space.lr=0.05"]), quiet()
    )
    assert outcome.n_complete == 3
    trials = trials_of(tmp_path)
    assert sorted(t.params["hidden"] for t in trials[:2]) == [4, 8]  # both points first
    assert "repeats an earlier configuration" in trials[2].user_attrs["note"]
    rows = json.loads((tmp_path / "leaderboard.json").read_text())["trials"]
    assert any("repeats an earlier configuration" in r["note"] for r in rows)


def test_a_diverged_training_loss_fails_the_trial(registries, tmp_path):
    outcome = run_study(
        plan_for(registries, tmp_path, "flaky",
                 ["sweep.n_trials=1", "space.crash=false", "space.explode=false",
                  "+space.diverge={type:choice,choices:[true]}"]),
        quiet(),
    )  # fmt: skip
    (trial,) = trials_of(tmp_path, "flaky-t")
    assert trial.state.name == "FAIL" and outcome.exit_code == 1
    assert trial.user_attrs["error"] == "FloatingPointError: train loss is nan at epoch 0"
    assert not (tmp_path / "best").exists()


@pytest.mark.parametrize(
    "error",
    [
        OSError(28, "No space left on device"),  # the disk fills up half-way through
        RuntimeError("mat1 and mat2 shapes cannot be multiplied"),  # a model that cannot predict
    ],
)
def test_a_failed_export_keeps_the_previous_best(registries, tmp_path, monkeypatch, error):
    from automl.results import finalize

    run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=1"]), quiet())
    best = tmp_path / "best"
    before = {p.name: p.read_bytes() for p in best.iterdir()}

    def fails(*args, **kwargs):
        raise error

    monkeypatch.setattr(finalize, "_predictions_csv", fails)
    console = recorded()
    outcome = run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=2"]), console)
    assert outcome.exit_code == 1 and str(error.args[-1]) in outcome.export_failed
    assert {p.name: p.read_bytes() for p in best.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".best", "best"))) == [
        "best"
    ]
    assert "best/ not written" in console.export_text()


@pytest.mark.parametrize(
    "model, message",
    [
        ("not_lightning", "build returned torch.nn.modules.linear.Linear, not a pytorch_lightning"),
        ("refuses", "model.device=tpu is not available on this machine"),
    ],
)
def test_a_wrong_builder_is_caught_before_the_study(tmp_path, dist_factory, model, message):
    from automl.core.errors import PluginError

    dist = dist_factory("automl-fakes", "0.1")
    eps = list(entry_points(group=MODEL_GROUP)) + [
        entry_point(model, f"fake_plugins:{model.upper()}", MODEL_GROUP, dist)
    ]
    registries = discover_models(eps), discover_data()
    with pytest.raises(UserError, match=message) as err:
        run_study(plan_for(registries, tmp_path, model, ["sweep.n_trials=3"]), quiet())
    assert isinstance(err.value, PluginError) or model == "refuses"
    assert "\n" not in str(err.value)
    assert not (tmp_path / "study.db").exists() and not (tmp_path / "trials").exists()
