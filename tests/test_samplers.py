"""Samplers by name: real studies on a tiny model, the checks before a study, grids, QMC and
CMA-ES safety (no pickle from the storage), and grid/QMC points across two real workers."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import optuna
import pytest
from helpers import compose, entry_point, run_cli

from automl.core.errors import TrialPruned, UserError
from automl.core.registry import MODEL_GROUP, discover_data, discover_models
from automl.core.space import Choice, Float, Int
from automl.data import load_dataset
from automl.study import train
from automl.study.families import trial_config
from automl.study.plan import make_plan
from automl.study.search import (
    SAMPLERS,
    grid_values,
    plan_sampler,
    resolve_auto,
    sampler_keeps_state,
)
from automl.tuning.factories import SafeCmaEsSampler, make_pruner, make_sampler

TESTS = Path(__file__).parent

# Arguments that make 3 trials reach each sampler's model (not only its random start-up).
SMALL_ARGS = {
    "tpe": {"n_startup_trials": 2},
    "gp": {"n_startup_trials": 2},
    "grid": {"grid_points": 2},
    "nsga2": {"population_size": 2},
}


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    from helpers import make_dist

    dist = make_dist(tmp_path_factory.mktemp("site"), "automl-fakes", "0.1")
    eps = list(entry_points(group=MODEL_GROUP)) + [
        entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist),
        entry_point("flaky", "fake_plugins:FLAKY", MODEL_GROUP, dist),
    ]
    return discover_models(eps), discover_data()


def plan_for(registries, tmp_path, model, overrides=()):
    models, data = registries
    cfg = compose(
        [f"model={model}", "data=wine", "trainer=fast", f"sweep.study_name={model}-t", *overrides],
        models,
        data,
    )
    return make_plan(cfg, model, "wine", models, data, tmp_path / "run")


def study_with(plan, sampler, n_trials):
    """A real study of the plan's model: sampled config -> ``train.fit`` with pruning reports."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    dataset = load_dataset(plan.data_plugin, plan.data_cfg)
    study = optuna.create_study(sampler=sampler, pruner=make_pruner("median"), direction="maximize")

    def objective(trial):
        params = {name: p.suggest(trial, name) for name, p in plan.space.items()}
        cfg = trial_config(plan.model_node, params)

        def report(step, value):
            trial.report(value, step)
            return trial.should_prune()

        try:
            result = train.fit(
                plan.plugin,
                optuna_free(cfg),
                dataset,
                plan.trainer,
                report=report,
                seed=trial.number,
            )
        except TrialPruned:
            raise optuna.TrialPruned() from None
        return result.value

    study.optimize(objective, n_trials=n_trials)
    return study


def optuna_free(node):
    from omegaconf import OmegaConf

    return OmegaConf.to_object(node)


@pytest.mark.parametrize("name", SAMPLERS)
def test_each_sampler_runs_a_three_trial_study(registries, tmp_path, name):
    plan = plan_for(registries, tmp_path, "good")
    assert set(plan.space) == {"lr", "hidden"}
    sampler = make_sampler(name, seed=7, space=plan.space, n_trials=3, args=SMALL_ARGS.get(name))
    study = study_with(plan, sampler, 3)
    trials = study.get_trials()
    assert len(trials) == 3
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    assert any(t.state.name == "COMPLETE" for t in trials)
    for t in trials:
        assert 0.01 <= t.params["lr"] <= 0.1 and t.params["hidden"] in (4, 8)
    if name == "grid":  # 2 lr values x 2 hidden values: three different points
        assert len({(t.params["lr"], t.params["hidden"]) for t in trials}) == 3
        assert {t.params["lr"] for t in trials} <= {0.01, 0.1}


@pytest.mark.heavy
def test_sampler_runs_through_the_cli(tmp_path):
    done = run_cli(
        [
            "model=forest",
            "data=breast_cancer",
            "sweep.sampler=cmaes",
            "sweep.n_trials=3",
            "space.n_estimators=20",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    board = (tmp_path / "run" / "leaderboard.json").read_text()
    assert '"sampler": "cmaes"' in board
    assert board.count('"state": "COMPLETE"') + board.count('"state": "PRUNED"') == 3


def test_unknown_sampler_is_one_line_exit_2(tmp_path):
    done = run_cli(
        ["model=forest", "sweep.sampler=bayes", f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "sweep.sampler='bayes' is not one of tpe, random, gp" in lines[0]


# The checks before a study, on real plans' spaces.


def one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_cmaes_with_only_categorical_parameters_is_an_error(registries, tmp_path):
    plan = plan_for(registries, tmp_path, "flaky")
    with pytest.raises(UserError) as exc:
        plan_sampler("cmaes", space=plan.space, n_trials=10)
    text = one_line(exc)
    assert "every searched parameter here is categorical (explode, crash)" in text
    assert "use tpe, gp or grid" in text


def test_cmaes_with_some_categorical_parameters_says_what_happens_to_them(registries, tmp_path):
    plan = plan_for(registries, tmp_path, "good")
    choice = plan_sampler("cmaes", space=plan.space, n_trials=10)
    assert choice.notes == (
        "cmaes: hidden (categorical) are drawn at random, each on its own, by Optuna's "
        "fallback sampler for CMA-ES; CMA-ES searches lr",
    )


def test_grid_with_a_continuous_parameter_needs_a_step_or_grid_points(registries, tmp_path):
    plan = plan_for(registries, tmp_path, "good")
    with pytest.raises(UserError) as exc:
        plan_sampler("grid", space=plan.space, n_trials=10)
    text = one_line(exc)
    assert "continuous float parameters (lr)" in text and "grid_points" in text
    stepped = plan_for(registries, tmp_path, "good", ["space.lr={low:0.01,high:0.05,log:false}"])
    assert isinstance(stepped.space["lr"], Float)
    ok = plan_sampler("grid", space=stepped.space, n_trials=10, args={"grid_points": 3})
    assert ok.grid == {"lr": [0.01, 0.03, 0.05], "hidden": [4, 8]}
    assert ok.notes == (
        "grid: 6 points; the study stops once each has run "
        "(sweep.n_trials=10 is more than the grid)",
    )


@pytest.mark.parametrize(
    "name,args,expected",
    [
        (
            "gp",
            {"n_startup": 3},
            "n_startup is not an argument of sampler gp (valid: "
            "n_startup_trials, deterministic_objective)",
        ),
        ("random", {"seed": 1}, "seed is not an argument of sampler random (valid: none)"),
        (
            "nsga2",
            {"population_size": "big"},
            "sweep.sampler_args.population_size='big': sampler nsga2 needs an integer",
        ),
        ("nsga2", {"crossover": "fancy"}, "needs one of uniform, blxalpha, sbx, vsbx, undx, spx"),
        ("qmc", {"qmc_type": "lattice"}, "needs one of sobol, halton"),
        (
            "grid",
            {"grid_points": {"depth": 3}},
            "grid_points names depth, which is not a searched numeric parameter (numeric: lr)",
        ),
    ],
)
def test_bad_sampler_args_are_one_line(registries, tmp_path, name, args, expected):
    plan = plan_for(registries, tmp_path, "good")
    with pytest.raises(UserError) as exc:
        plan_sampler(name, space=plan.space, n_trials=10, args=args)
    assert expected in one_line(exc)


def test_cmaes_refuses_several_objectives():
    with pytest.raises(UserError, match="cmaes optimizes one objective"):
        plan_sampler("cmaes", space={"x": Float(0, 1)}, n_trials=10, n_objectives=2)


def test_sampler_args_reach_the_optuna_sampler():
    sampler = make_sampler(
        "nsga2", 0, space={"x": Float(0, 1)}, n_trials=40, args={"population_size": 12}
    )
    assert sampler._population_size == 12
    # Without one, NSGA-II's population is a fifth of the budget, within 8..50.
    assert make_sampler("nsga2", 0, space={"x": Float(0, 1)}, n_trials=40)._population_size == 8
    assert make_sampler("nsga2", 0, space={"x": Float(0, 1)}, n_trials=400)._population_size == 50
    gp = make_sampler("gp", 0, space={"x": Float(0, 1)}, n_trials=40, args={"n_startup_trials": 9})
    assert gp._n_startup_trials == 9


def test_auto_rule():
    numeric = {"a": Float(0, 1), "b": Int(1, 5), "c": Choice(["x", "y"])}
    categorical = {"a": Float(0, 1), "b": Choice([1, 2]), "c": Choice(["x", "y"])}
    assert resolve_auto(numeric, n_trials=50, prunes=False) == "gp"
    assert resolve_auto(numeric, n_trials=50) == "tpe"  # beside a pruner GP's trials get pruned
    assert resolve_auto(numeric, n_trials=101, prunes=False) == "tpe"
    assert resolve_auto(categorical, n_trials=50, prunes=False) == "tpe"
    assert resolve_auto(numeric, n_trials=50, n_objectives=2) == "tpe"
    assert resolve_auto(numeric, n_trials=200, n_objectives=2) == "nsga2"
    chosen = plan_sampler("auto", space=numeric, n_trials=50, prunes=False)
    assert (chosen.name, chosen.label) == ("gp", "auto: gp")
    sampler = make_sampler("auto", 0, space=numeric, n_trials=50, prunes=False)
    assert isinstance(sampler, optuna.samplers.GPSampler)
    assert isinstance(
        make_sampler("auto", 0, space=numeric, n_trials=50), optuna.samplers.TPESampler
    )


def test_samplers_that_must_keep_one_seed():
    assert [n for n in SAMPLERS if sampler_keeps_state(n)] == ["qmc", "grid"]


def test_grid_values():
    space = {
        "lr": Float(1e-4, 1e-1, log=True),
        "drop": Float(0.0, 0.5, step=0.1),
        "depth": Int(2, 10, step=4),
        "act": Choice(["relu", None]),
    }
    grid = grid_values(space, grid_points=4)
    assert grid == {
        "lr": [1e-4, 1e-3, 1e-2, 1e-1],
        "drop": [0.0, 0.2, 0.3, 0.5],  # 4 of the 6 stepped values, on the step
        "depth": [2, 6, 10],
        "act": ["relu", None],
    }
    grid = grid_values(space, grid_points={"lr": 2})
    assert grid["lr"] == [1e-4, 1e-1]
    assert grid["drop"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert grid_values({"n": Int(1, 100, log=True)}, 3) == {"n": [1, 10, 100]}


# Grid and QMC: point k for the k-th trial, never twice.


def quadratic(trial):
    x = trial.suggest_float("x", -1.0, 1.0, step=0.25)
    y = trial.suggest_categorical("y", ["a", "b", "c"])
    return x**2 + (y != "b")


GRID_SPACE = {"x": Float(-1.0, 1.0, step=0.25), "y": Choice(["a", "b", "c"])}


def test_grid_covers_every_point_once_then_stops():
    sampler = make_sampler("grid", 3, space=GRID_SPACE, n_trials=100)
    study = optuna.create_study(sampler=sampler)
    study.enqueue_trial({"x": 0.0, "y": "b"})  # an enqueued trial takes no grid point
    study.optimize(quadratic, n_trials=100)
    trials = study.get_trials()
    grid_trials = [t for t in trials if "grid_id" in t.system_attrs]
    assert len(trials) == 1 + 27 and len(grid_trials) == 27
    assert len({(t.params["x"], t.params["y"]) for t in grid_trials}) == 27
    assert sorted(t.system_attrs["grid_id"] for t in grid_trials) == list(range(27))


def test_grid_trial_past_the_grid_fails_instead_of_repeating_a_point():
    sampler = make_sampler("grid", 0, space={"y": Choice(["a", "b"])}, n_trials=2)
    study = optuna.create_study(sampler=sampler)
    # Two trials hold both points (one still running, as in another worker).
    running = study.ask()
    running.suggest_categorical("y", ["a", "b"])
    study.optimize(lambda t: float(t.suggest_categorical("y", ["a", "b"]) == "a"), n_trials=1)
    extra = study.ask()
    with pytest.raises(Exception, match="all 2 grid points were taken"):
        extra.suggest_categorical("y", ["a", "b"])
    assert extra.params == {}


def test_qmc_trial_k_takes_point_k_of_the_scrambled_sequence():
    from scipy.stats import qmc

    sampler = make_sampler("qmc", 11, space={"x": Float(2.0, 4.0)}, n_trials=8)
    study = optuna.create_study(sampler=sampler)
    study.enqueue_trial({"x": 3.0})
    study.optimize(lambda t: t.suggest_float("x", 2.0, 4.0), n_trials=9)
    expected = 2.0 + 2.0 * qmc.Sobol(1, seed=11, scramble=True).random(8)[:, 0]
    drawn = [t.params["x"] for t in study.get_trials()[1:]]
    assert drawn == pytest.approx(list(expected), rel=1e-12)
    other = make_sampler("qmc", 12, space={"x": Float(2.0, 4.0)}, n_trials=8)
    study2 = optuna.create_study(sampler=other)
    study2.optimize(lambda t: t.suggest_float("x", 2.0, 4.0), n_trials=2)
    assert study2.trials[0].params["x"] != drawn[0]  # each seed its own sequence


WORKER = TESTS / "grid_worker.py"


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["grid", "qmc"])
def test_two_worker_processes_on_one_journal_never_share_a_point(tmp_path, name):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from scipy.stats import qmc

    journal = tmp_path / "study.log"
    ready = tmp_path / "ready"
    ready.mkdir()
    per_worker = 10
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                name,
                str(journal),
                str(ready),
                str(i),
                "2",
                str(per_worker),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    storage = JournalStorage(JournalFileBackend(str(journal)))
    trials = optuna.load_study(study_name="shared", storage=storage).get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    points = [(t.params["x"], t.params["y"]) for t in complete]
    assert len(points) == len(set(points)), "a point ran twice"
    assert {t.user_attrs["worker"] for t in complete} == {0, 1}, "both workers ran trials"
    if name == "grid":  # 15 points, 20 trials asked: each point once, the rest refused
        assert len(points) == 15
        for t in trials:
            if t.state.name != "COMPLETE":
                assert t.state.name == "FAIL" and "grid_overflow" in t.system_attrs
    else:  # the first 20 points of one scrambled Sobol sequence, one per trial
        assert len(complete) == 2 * per_worker
        with warnings.catch_warnings():  # 20 points, not a power of two: fine for the test
            warnings.simplefilter("ignore", UserWarning)
            expected = -1.0 + 2.0 * qmc.Sobol(2, seed=5, scramble=True).random(20)[:, 0]
        assert sorted(x for x, _ in points) == pytest.approx(sorted(expected), rel=1e-12)


# CMA-ES: the algorithm Optuna runs, with no pickle read from the storage.


def cma_objective(trial):
    x = trial.suggest_float("x", -3, 3)
    y = trial.suggest_float("y", 1e-3, 1, log=True)
    n = trial.suggest_int("n", 1, 8)
    return (x - 1) ** 2 + abs(y - 0.1) + (n - 3) ** 2 * 0.1


def test_safe_cmaes_follows_optunas_cma_es_trial_for_trial():
    runs = []
    for cls in (optuna.samplers.CmaEsSampler, SafeCmaEsSampler):
        study = optuna.create_study(sampler=cls(seed=3))
        study.optimize(cma_objective, n_trials=40)
        runs.append(study.get_trials())
    stock, safe = runs
    # 5 generations of 7 told: the CMA state evolves the same, up to float rounding.
    assert max(t.system_attrs.get("cma:generation", 0) for t in safe) == 5
    for a, b in zip(stock, safe, strict=True):
        assert a.params.keys() == b.params.keys()
        for key in a.params:
            assert math.isclose(a.params[key], b.params[key], rel_tol=1e-9, abs_tol=1e-12)
    assert not any(k.startswith("cma:optimizer") for t in safe for k in t.system_attrs)


class Payload:
    """Unpickling this creates a file: proof that code from the storage ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def planted_study(db, marker, sampler):
    """A SQLite study whose completed trials carry a pickled 'optimizer' (as an attacker's)."""
    storage = f"sqlite:///{db}"
    study = optuna.create_study(
        storage=storage, sampler=sampler, study_name="planted", load_if_exists=True
    )
    if not study.get_trials():
        hexed = pickle.dumps(Payload(marker)).hex()
        dists = {
            "x": optuna.distributions.FloatDistribution(-3, 3),
            "y": optuna.distributions.FloatDistribution(1e-3, 1, log=True),
            "n": optuna.distributions.IntDistribution(1, 8),
        }
        for i in range(3):
            study.add_trial(
                optuna.trial.create_trial(
                    params={"x": 0.1 * i, "y": 0.1, "n": 2},
                    distributions=dists,
                    value=1.0 + i,
                    system_attrs={"cma:optimizer:0": hexed, "cma:generation": 0},
                )
            )
    return study


def test_a_pickle_planted_in_the_storage_does_not_run(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    marker = tmp_path / "pwned"
    # The control: Optuna's own sampler unpickles the planted optimizer (the payload runs).
    with pytest.raises(AttributeError):
        planted_study(tmp_path / "a.db", marker, optuna.samplers.CmaEsSampler(seed=0)).optimize(
            cma_objective, n_trials=1
        )
    assert marker.exists()
    marker.unlink()
    sampler = make_sampler("cmaes", 0, space=None, n_trials=20)
    study = planted_study(tmp_path / "b.db", marker, sampler)
    study.optimize(cma_objective, n_trials=20)
    assert not marker.exists()
    states = {t.state.name for t in study.get_trials()}
    assert states == {"COMPLETE"} and len(study.get_trials()) == 23
