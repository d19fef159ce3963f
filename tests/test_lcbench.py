"""The LCBench benchmark plugin (benchmarks/lcbench_plugin) through automl's real study path.

Its trials ask YAHPO Gym's LCBench surrogate for a learning curve and report every epoch, so a
study of dozens of trials takes seconds: these tests check what the benchmark's numbers rest
on (reported steps, pruned trials' lengths, the budget, the regret and hypervolume arithmetic)
and pruning on the first objective of a two-objective study.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from rich.console import Console

from automl.core.records import record_of
from automl.study.plan import make_plan
from automl.tuning import run_study

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
TASK = "3945"


@pytest.fixture(scope="module")
def bench():
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_lcbench", BENCH / "lcbench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.use_plugin()
    return module


def _study(bench, tmp_path, overrides):
    cfg, models, data = bench._compose(
        [
            *bench.COMMON,
            f"model.task={TASK}",
            f"sweep.storage={tmp_path / 'study.jsonl'}",
            "sweep.study_name=lcb",
            *overrides,
        ]
    )
    plan = make_plan(cfg, "lcbench", "lcbench", models, data, tmp_path / "run")
    outcome = run_study(plan, Console(file=io.StringIO(), width=200))
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.jsonl"))
    )
    return outcome, optuna.load_study(study_name="lcb", storage=storage)


def test_trials_report_every_epoch_and_pruned_ones_stop_early(bench, tmp_path):
    from automl_lcbench.surrogate import OUTPUTS, PARAMS, surrogate

    outcome, study = _study(bench, tmp_path, ["sweep.n_trials=14", "sweep.pruner=median"])
    assert outcome.exit_code == 0
    trials = study.get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert complete and pruned, [t.state.name for t in trials]
    sur = surrogate("")
    for t in trials:
        # One report per epoch, steps 0..epochs-1, and the record counts the same epochs.
        steps = sorted(t.intermediate_values)
        assert steps == list(range(len(steps))) and record_of(t).epochs == len(steps)
        curve = sur.curve(TASK, {p: t.params[p] for p in PARAMS})
        reported = np.array([t.intermediate_values[s] for s in steps])
        assert reported == pytest.approx(curve[: len(steps), OUTPUTS.index("val_accuracy")] / 100)
    for t in complete:  # all 52 epochs, valued at the best one, with its simulated time
        assert len(t.intermediate_values) == 52
        assert t.value == pytest.approx(max(t.intermediate_values.values()))
        time_52 = sur.curve(TASK, {p: t.params[p] for p in PARAMS})[-1, OUTPUTS.index("time")]
        assert record_of(t).metrics["val_time"] == pytest.approx(float(time_52), rel=1e-5)
    # The median pruner stops after its warm-up (3 steps), never later than a complete trial.
    assert all(4 <= len(t.intermediate_values) < 52 for t in pruned)


def test_a_run_spends_its_budget_in_chunks_of_the_same_study(bench, tmp_path):
    budget = 6 * 52 + 10
    r = bench.automl_run("random", bench.METHODS["random"], TASK, 0, budget, tmp_path, "")
    # Without pruning every trial is 52 epochs: 6 fit in the budget, a 7th is needed to pass
    # it, and the resumed study (chunk 2) ran exactly that one.
    assert [t["epochs"] for t in r["trials"]] == [52] * 7 and r["chunks"] == 2
    cost, inc = bench.incumbents(r["trials"], budget)
    assert list(cost) == [52 * k for k in range(1, 7)]  # the 7th ended past the budget
    assert inc[-1] == max(t["values"][0] for t in r["trials"][:6])


def test_regret_and_hypervolume_on_known_cases(bench):
    ref = {"best": 1.0, "median": 0.8}
    trials = [
        {"epochs": 10, "state": "PRUNED"},
        {"epochs": 52, "state": "COMPLETE", "values": [0.9]},
        {"epochs": 52, "state": "COMPLETE", "values": [0.95]},
        {"epochs": 30, "state": "PRUNED"},
        {"epochs": 52, "state": "COMPLETE", "values": [0.85]},
    ]
    grid = np.array([10, 61, 62, 113, 114, 196]) / 196
    curve = bench.regret_curve(trials, 196, ref, grid)
    # Nothing full-length before epoch 62: a median configuration's regret, 1; then 0.5 and
    # 0.25; the pruned and worse trials change nothing; the last one ends past the budget.
    assert curve == pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25, 0.25])
    assert bench.hypervolume([(0.5, 0.5)]) == pytest.approx(0.25)
    assert bench.hypervolume([(0.5, 0.5), (0.25, 0.75), (0.6, 0.6)]) == pytest.approx(0.3125)
    assert bench.hypervolume([(1.2, 0.1), (0.1, 1.0)]) == 0.0  # outside the reference box


def test_two_objective_study_prunes_on_its_first_objective(bench, tmp_path):
    outcome, study = _study(
        bench,
        tmp_path,
        [
            "sweep.n_trials=14",
            "sweep.pruner=median",
            "sweep.sampler=tpe",
            "sweep.objectives=[accuracy,time:min]",
        ],
    )
    assert outcome.exit_code == 0
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    trials = study.get_trials()
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert pruned and len(complete) >= 4  # 4 complete trials before the median judges
    for t in pruned:
        # Stopped after the warm-up, below the median of the complete trials at its last step.
        last = max(t.intermediate_values)
        assert 3 <= last < 51 and t.values is None
        at_step = [c.intermediate_values[last] for c in complete if c.number < t.number]
        assert t.intermediate_values[last] < np.median(at_step)
    for t in complete:
        assert len(t.intermediate_values) == 52 and t.values[1] > 0
    # The same study without a pruner trains every trial to its end.
    _, plain = _study(
        bench,
        tmp_path / "none",
        ["sweep.n_trials=6", "sweep.pruner=none", "sweep.objectives=[accuracy,time:min]"],
    )
    assert all(t.state.name == "COMPLETE" for t in plain.get_trials())


def test_benchmark_arguments(bench):
    a = bench.parse_args(
        ["--quick", "--variant", "w10=sweep.pruner=median;+sweep.pruner_args.n_warmup_steps=10"]
    )
    assert a.tasks == ",".join(bench.QUICK_TASKS) and a.seeds == 2
    assert "gp" not in a.methods and "dehb" in a.methods and a.methods[-1] == "w10"
    assert a.variant == [("w10", ["sweep.pruner=median", "+sweep.pruner_args.n_warmup_steps=10"])]
    assert bench.parse_args(["--mo"]).methods == list(bench.MO_METHODS)
    for bad in (["--methods", "random,smac"], ["--seeds", "0"], ["--variant", "nothing"]):
        with pytest.raises(SystemExit) as exc:
            bench.parse_args(bad)
        assert exc.value.code == 2
