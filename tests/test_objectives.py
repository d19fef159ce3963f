"""Objectives and constraints as written, Pareto fronts, and the selection rule (unit tests)."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from helpers import run_cli

from automl.backends import Goal
from automl.core.objectives import (
    Constraint,
    Objective,
    ObjectiveError,
    ObjectiveSpec,
    parse_constraints,
    parse_objectives,
    resolve_objectives,
)
from automl.results.pareto import Candidate, dominates, front_numbers, select


def test_objectives_parse_names_and_directions():
    specs = parse_objectives(["val_acc", "latency_ms:min", "f1:MAX", "n_params"])
    assert specs == (
        ObjectiveSpec("val_acc"),
        ObjectiveSpec("latency_ms", "minimize"),
        ObjectiveSpec("val_f1", "maximize"),  # a bare metric name means its val_ form
        ObjectiveSpec("n_params"),
    )
    resolved = resolve_objectives(specs, "acc", "maximize")
    assert [(o.key, o.direction) for o in resolved] == [
        ("val_acc", "maximize"),  # the model's own metric keeps the model's direction
        ("latency_ms", "minimize"),
        ("val_f1", "maximize"),
        ("n_params", "minimize"),  # built-in measures are minimized unless told otherwise
    ]
    # Nothing configured: the model's metric alone; a loss is minimized by its nature.
    assert resolve_objectives((), "rmse", "minimize") == (Objective("val_rmse", "minimize"),)
    assert resolve_objectives(parse_objectives(["val_loss", "val_acc"]), "acc", "maximize")[
        0
    ] == Objective("val_loss", "minimize")


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (["val_acc:up"], "must be max or min"),
        (["val_acc", "acc"], "twice"),
        (["test_acc"], "test split is used once"),
        (["val acc"], "does not name a measure"),
        (["__import__('os').system('x')"], "does not name a measure"),
    ],
)
def test_bad_objectives_are_one_line_errors(value, fragment):
    with pytest.raises(ObjectiveError, match=fragment) as info:
        parse_objectives(value)
    assert "\n" not in str(info.value)


def test_constraints_parse_without_eval():
    parsed = parse_constraints(["n_params<=200000", " latency_ms < 2.5 ", "val_acc>=0.9", "f1>.5"])
    assert parsed == (
        Constraint("n_params", "<=", 200000.0),
        Constraint("latency_ms", "<", 2.5),
        Constraint("val_acc", ">=", 0.9),
        Constraint("val_f1", ">", 0.5),
    )
    le, lt, ge = parsed[0], parsed[1], parsed[2]
    assert le.violation(199999) < 0 and le.violation(200000) == 0 and le.violation(200001) == 1
    assert lt.violation(2.5) > 0 and lt.satisfied(2.4) and not lt.satisfied(2.5)
    assert ge.satisfied(0.95) and ge.violation(0.85) == pytest.approx(0.05)
    assert math.isinf(le.violation(None)) and math.isinf(le.violation(float("nan")))


@pytest.mark.parametrize(
    "bad",
    [
        "n_params<=2e5x",
        "n_params == 3",
        "n_params<=",
        "<=3",
        "__import__('os').system('touch pwned')<=1",
        "n_params<=1e999",
        "test_acc>=0.9",
    ],
)
def test_bad_constraints_are_one_line_errors(bad, tmp_path):
    with pytest.raises(ObjectiveError) as info:
        parse_constraints([bad])
    assert "\n" not in str(info.value)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.heavy
def test_bad_constraint_on_the_command_line_is_one_line_and_exit_2(tmp_path):
    out = run_cli(
        ["model=linear", "data=wine", "sweep.n_trials=2", "sweep.constraints=[n_params]"], tmp_path
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "sweep.constraints" in lines[0] and "NAME<=NUMBER" in lines[0]
    assert "Traceback" not in out.stderr and not (tmp_path / "runs").exists()
    # Unquoted, a comparison is a Hydra syntax error: one line on how to quote it.
    out = run_cli(["model=linear", "sweep.constraints=[n_params<=3]"], tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert 'sweep.constraints=["n_params<=200000"' in out.stderr
    out = run_cli(["model=linear", "data=wine", "sweep.objectives=[val_acc:upward]"], tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "must be max or min" in out.stderr


def test_goal_values_unmet_and_identity():
    goal = Goal(
        "acc",
        "maximize",
        resolve_objectives(parse_objectives(["val_acc", "latency_ms"]), "acc", "maximize"),
        parse_constraints(["n_params<=100"]),
    )
    measures = {"val_acc": 0.9, "n_params": 150.0, "latency_ms": 0.5, "train_s": 1.0}
    assert goal.multi and goal.directions == ["maximize", "minimize"]
    assert goal.values(measures) == [0.9, 0.5]
    assert goal.unmet(measures) == "n_params=150 breaks n_params<=100"
    assert goal.unmet({**measures, "n_params": 100.0}) is None
    assert goal.identity() == "val_acc (maximize), latency_ms (minimize)"
    with pytest.raises(KeyError, match="latency_ms was not measured"):
        goal.values({"val_acc": 0.9, "latency_ms": None})
    # One objective, the model's own: the identity every study had before objectives existed.
    assert Goal("acc", "maximize").identity() == "acc (maximize)"
    # Pruners judge the metric reported each epoch when it is the first objective (with
    # several, automl.tuning.objective_pruner), never a measure that exists only after
    # training.
    assert Goal("acc", "maximize").prunable and goal.prunable
    latency = resolve_objectives(parse_objectives(["latency_ms"]), "acc", "maximize")
    assert not Goal("acc", "maximize", latency).prunable
    latency_first = resolve_objectives(parse_objectives(["latency_ms", "acc"]), "acc", "maximize")
    assert not Goal("acc", "maximize", latency_first).prunable


def _brute_fronts(points, directions):
    """Fronts by peeling: front k = points not dominated by any point not yet assigned."""
    left, fronts, k = set(range(len(points))), [0] * len(points), 1
    while left:
        layer = {
            i for i in left if not any(dominates(points[j], points[i], directions) for j in left)
        }
        for i in layer:
            fronts[i] = k
        left -= layer
        k += 1
    return fronts


def test_front_numbers_match_a_brute_force_peeling():
    rng = random.Random(3)
    for directions in (["maximize", "minimize"], ["minimize", "minimize", "maximize"]):
        points = [[rng.choice([0, 1, 2, 3]) for _ in directions] for _ in range(40)]
        assert front_numbers(points, directions) == _brute_fronts(points, directions)
    # Front 1 of two objectives: nobody is better on both.
    pts = [[0.9, 5.0], [0.8, 1.0], [0.95, 9.0], [0.7, 2.0], [0.9, 6.0]]
    assert front_numbers(pts, ["maximize", "minimize"]) == [1, 1, 1, 2, 2]


def test_select_rules():
    names, dirs = ["val_acc", "latency_ms"], ["maximize", "minimize"]
    cands = [
        Candidate(0, (0.90, 5.0)),
        Candidate(1, (0.80, 1.0)),
        Candidate(2, (0.99, 9.0), feasible=False),  # best on accuracy, but infeasible
        Candidate(3, (0.95, 7.0)),
        Candidate(4, (0.95, 7.0)),  # a tie with #3: the earlier trial wins
    ]
    auto = select(cands, names, dirs)
    assert not isinstance(auto, str)
    assert auto.chosen.number == 3
    assert {c.number for c in auto.front} == {0, 1, 3, 4}
    fast = select(cands, names, dirs, "latency_ms")
    assert not isinstance(fast, str) and fast.chosen.number == 1
    pinned = select(cands, names, dirs, "trial:0")
    assert not isinstance(pinned, str) and pinned.chosen.number == 0
    assert "constraints" in select(cands, names, dirs, "trial:2")  # type: ignore[operator]
    assert "not a complete trial" in select(cands, names, dirs, "trial:9")  # type: ignore[operator]
    none = select([Candidate(0, (1.0, 1.0), feasible=False)], names, dirs)
    assert isinstance(none, str) and "meets sweep.constraints" in none
    # Whatever the points, the chosen trial is never dominated by a feasible one.
    rng = random.Random(0)
    for _ in range(20):
        pts = [Candidate(i, (rng.random(), rng.random()), rng.random() > 0.3) for i in range(15)]
        got = select(pts, names, dirs)
        if isinstance(got, str):
            assert not any(c.feasible for c in pts)
            continue
        assert got.chosen.feasible
        for a, b in itertools.product([got.chosen], [c for c in pts if c.feasible]):
            assert not dominates(b.values, a.values, dirs)


def test_the_fingerprint_includes_objectives_and_constraints():
    from automl.core.space import Float
    from automl.study.identity import diff, fingerprint

    def identity(**extra):
        return fingerprint(
            model="mlp",
            model_config={"lr": 0.1, "hidden": 8},
            space={"lr": Float(0.01, 0.1)},
            metric="acc",
            direction="maximize",
            data="wine",
            data_config={"seed": 0},
            data_digest="abc",
            trainer={"max_epochs": 2},
            **extra,
        )

    plain = identity()
    # Without objectives or constraints the identity is the one studies always had.
    assert plain["objective"] == "acc (maximize)" and "constraints" not in plain
    multi = identity(objective="val_acc (maximize), latency_ms (minimize)")
    bound = identity(constraints=["n_params<=200000"])
    assert [str(c) for c in diff(plain, multi)] == [
        "objective: acc (maximize) -> val_acc (maximize), latency_ms (minimize)"
    ]
    assert [str(c) for c in diff(plain, bound)] == ["constraints: none -> [n_params<=200000]"]
    assert not any(c.allowed for c in diff(plain, bound) + diff(plain, multi))


def test_a_tie_exports_the_trial_the_leaderboard_ranks_first():
    """Equal objective values: best/ gets leaderboard rank 1 (the lower val_loss), not
    Optuna's first best trial."""
    from types import SimpleNamespace

    import optuna
    from optuna.distributions import FloatDistribution

    from automl.core.records import TrialRecord
    from automl.results.leaderboard import rank_rows, row_from_trial
    from automl.tuning.selection import choose_best

    study = optuna.create_study(direction="maximize")
    for loss in (0.30, 0.50, 0.10, 0.20):  # every trial reaches val_acc 1.0
        record = TrialRecord(metrics={"val_acc": 1.0, "val_loss": loss}, epochs=3)
        study.add_trial(
            optuna.trial.create_trial(
                params={"lr": 0.1},
                distributions={"lr": FloatDistribution(0.01, 1.0)},
                value=1.0,
                user_attrs=record.attrs(),
            )
        )
    run = SimpleNamespace(
        goal=Goal("acc", "maximize"), plan=SimpleNamespace(sweep=SimpleNamespace(select="auto"))
    )
    trials = study.get_trials()
    assert study.best_trial.number == 0  # Optuna's rule: the first of equal values
    choice = choose_best(run, study, trials)  # type: ignore[arg-type]
    ranked = rank_rows([row_from_trial(t) for t in trials], "maximize", "val_acc")
    assert choice.trial is not None and choice.trial.number == ranked[0].number == 2
