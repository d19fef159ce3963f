"""The time budget (``sweep.timeout``) and the threads each trial trains with.

Through the command line with real training: a study whose one trial would train for hours
ends within its budget, with that trial stopped at its best epoch and exported; a trial that
never reports is cut; several workers share one deadline; ``model=auto`` gives a slow default
only its share. Threads: a process limited to one CPU trains with one thread.

The wall-time bounds are generous (``SLACK`` seconds beyond the budget: on a 2-core machine
shared with other jobs, importing torch and Lightning alone has taken minutes) and still fail
without a budget that holds: each of these studies would otherwise train for hours. How close
to the budget a command ends is measured by ``benchmarks/budget.py`` (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from helpers import TESTS, cli_env, install_entry_points

from automl.core.budget import EXPORT_CPU_S, TRIALS_END_ENV, TimeBudget, startup_contention
from automl.core.cpus import (
    DEFAULT_MAX_THREADS,
    TRIALS_ENV,
    cgroup_cpu_limit,
    trial_threads,
    usable_cpus,
)
from automl.core.records import TrialRecord, ranked_values
from automl.results.leaderboard.rows import STOPPED, rank_rows, row_from_trial

FOREVER = "trainer.max_epochs=100000"  # hours of training: only the budget can end it
SLACK = 240.0


@pytest.fixture
def budget_env(tmp_path):
    """``PYTHONPATH`` with the test plugins of ``fake_budget`` installed."""
    site = install_entry_points(
        tmp_path / "site",
        "automl-budget-test",
        "0.1",
        {
            "automl.models": {
                "threads_probe": "fake_budget:THREADS_PROBE",
                "silent": "fake_budget:SILENT",
            }
        },
    )
    return {"PYTHONPATH": os.pathsep.join([str(site), str(TESTS)]), "COLUMNS": "200"}


def _timed_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, **popen):
    """``python -m automl ARGS``: (completed process, wall seconds from launch to exit)."""
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "automl", *args],
        cwd=cwd,
        env=cli_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=900,
        **popen,
    )
    return out, time.monotonic() - start


def _rows(run_dir: Path) -> dict[int, dict]:
    return {
        r["number"]: r for r in json.loads((run_dir / "leaderboard.json").read_text())["trials"]
    }


@pytest.mark.heavy
def test_a_default_trial_longer_than_the_budget_ends_within_it(tmp_path):
    budget = 20
    run_dir = tmp_path / "run"
    out, wall = _timed_cli(
        [
            "model=mlp",
            "data=digits",
            "sweep.n_trials=1",
            f"sweep.timeout={budget}",
            FOREVER,
            "sweep.report=true",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert wall < budget + SLACK, f"{wall:.1f} s for a {budget} s budget"
    (row,) = _rows(run_dir).values()
    assert row["state"] == STOPPED and row["rank"] == 1
    assert 1 <= row["epochs"] < 100000
    assert "stopped at the time budget after epoch" in row["note"], row["note"]
    assert row["value"] == row["metrics"]["val_acc"]
    # Optuna sees a partial trial (PRUNED), automl's record keeps its best epoch's result.
    study = optuna.load_study(study_name="mlp-digits", storage=f"sqlite:///{run_dir / 'study.db'}")
    (trial,) = study.trials
    record = TrialRecord.from_attrs(trial.user_attrs)
    assert trial.state.name == "PRUNED" and record.stopped == "budget"
    assert record.values == [row["value"]] and record.budget["epochs"] <= row["epochs"]
    # Exported, as the only trial with a result; the report was not worth the budget.
    best = json.loads((run_dir / "best" / "metrics.json").read_text())
    assert best["validation"]["val_acc"] == row["value"]
    assert "report/ is not written within the budget" in out.stdout
    assert not (run_dir / "report").exists()


@pytest.mark.heavy
def test_a_trial_that_never_reports_is_cut_and_rerun_later(tmp_path, budget_env):
    budget = 10
    run_dir = tmp_path / "run"
    out, wall = _timed_cli(
        ["model=silent", "sweep.n_trials=1", f"sweep.timeout={budget}", f"hydra.run.dir={run_dir}",
         "sweep.report=false"],
        tmp_path,
        budget_env,
    )  # fmt: skip
    assert wall < budget + SLACK, f"{wall:.1f} s for a {budget} s budget"
    assert out.returncode == 1, out.stdout + out.stderr  # no trial had a result
    rows = _rows(run_dir)
    assert rows[0]["state"] == "FAIL"
    assert "cut at the time budget (sweep.timeout=10 s)" in rows[0]["note"]
    assert "re-run with the same parameters" in rows[0]["note"]
    assert rows[1]["state"] == "WAITING"  # the re-run, for the next invocation


@pytest.mark.slow
def test_several_workers_share_one_deadline(tmp_path):
    budget = 45
    run_dir = tmp_path / "run"
    out, wall = _timed_cli(
        ["model=mlp", "data=digits", "sweep.n_trials=4", "sweep.workers=2",
         f"sweep.timeout={budget}", FOREVER, "sweep.report=false", f"hydra.run.dir={run_dir}"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert wall < budget + SLACK, f"{wall:.1f} s for a {budget} s budget"
    stopped = [r for r in _rows(run_dir).values() if r["state"] == STOPPED]
    assert len(stopped) >= 2, _rows(run_dir)
    assert (run_dir / "best" / "metrics.json").exists()


@pytest.mark.slow
def test_model_auto_runs_cheap_defaults_first_and_gives_a_slow_one_its_share(tmp_path):
    budget = 40
    run_dir = tmp_path / "run"
    out, wall = _timed_cli(
        ["model=auto", "model.families=[linear,mlp]", "data=digits", "sweep.n_trials=100",
         f"sweep.timeout={budget}", FOREVER, "sweep.report=false", f"hydra.run.dir={run_dir}"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert wall < budget + SLACK, f"{wall:.1f} s for a {budget} s budget"
    rows = _rows(run_dir)
    assert rows[0]["family"] == "linear" and rows[0]["state"] == "COMPLETE"
    assert rows[1]["family"] == "mlp" and rows[1]["state"] == STOPPED
    assert "its share of the time budget" in rows[1]["note"], rows[1]["note"]
    # The default did not take the rest of the budget: the search ran after it.
    assert len([r for r in rows.values() if r["state"] != "WAITING"]) >= 3


@pytest.mark.heavy
def test_an_estimator_stopped_by_the_budget_is_kept_not_pruned(tmp_path):
    """A budget that start-up ate: the first trial starts past the end and is asked to stop
    at its first report. The linear model stops the way docs/plugins.md says (it raises
    TrialPruned), which used to count as a prune: no model, exit 1. Now it is STOPPED with
    its result, and exported."""
    run_dir = tmp_path / "run"
    out, _ = _timed_cli(
        ["model=linear", "data=wine", "sweep.timeout=1", "sweep.n_trials=5",
         "sweep.report=false", "sweep.live=false", f"hydra.run.dir={run_dir}"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    row = _rows(run_dir)[0]
    assert row["state"] == STOPPED and "after step 1" in row["note"], row
    assert (run_dir / "best" / "metrics.json").exists()


def test_a_stopped_trial_ranks_below_a_complete_one_of_equal_value():
    def trial(number: int, state: str, value: float, **attrs):
        record = TrialRecord(metrics={"val_acc": value}, **attrs)
        return optuna.trial.create_trial(
            state=getattr(optuna.trial.TrialState, state),
            value=value if state == "COMPLETE" else None,
            intermediate_values={0: value / 2},
            user_attrs=record.attrs(),
        )

    stopped = trial(0, "PRUNED", 0.9, stopped="budget", values=[0.9])
    pruned = trial(1, "PRUNED", 0.95)
    complete = trial(2, "COMPLETE", 0.9)
    better_stopped = trial(3, "PRUNED", 0.95, stopped="share", values=[0.95])
    for number, t in enumerate((stopped, pruned, complete, better_stopped)):
        t.number = number
    assert ranked_values(stopped) == [0.9] and ranked_values(pruned) is None
    ranked = rank_rows([row_from_trial(t) for t in (stopped, pruned, complete, better_stopped)],
                       "maximize", "val_acc")  # fmt: skip
    assert [(r.number, r.state, r.rank) for r in ranked] == [
        (3, STOPPED, 1),
        (2, "COMPLETE", 2),
        (0, STOPPED, 3),
        (1, "PRUNED", None),
    ]


# -- threads ----------------------------------------------------------------------------


@pytest.mark.heavy
def test_a_process_limited_to_one_cpu_trains_with_one_thread(tmp_path, budget_env):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs a machine with 2 CPUs or more (it limits a process to one)")
    probe = tmp_path / "threads.txt"
    run_dir = tmp_path / "run"
    out, _ = _timed_cli(
        ["model=threads_probe", "sweep.n_trials=1", "trainer.max_epochs=1",
         f"hydra.run.dir={run_dir}", "sweep.report=false"],
        tmp_path,
        {**budget_env, "AUTOML_TEST_PROBE": str(probe)},
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert probe.read_text() == "1"  # what torch reported inside the trial
    assert "1 thread per trial (1 CPU, 1 trial at a time, machine busy x" in out.stdout


def _cgroup_v1_with_quota(cpus: float) -> Path | None:
    """A real cgroup (v1 ``cpu`` controller) limited to ``cpus`` CPUs, or ``None`` where this
    process may not create one (not root, no writable cgroup file system)."""
    base = Path("/sys/fs/cgroup/cpu")
    if not (base / "cpu.cfs_quota_us").exists() or not os.access(base, os.W_OK):
        return None
    group = base / f"automl-test-{os.getpid()}"
    try:
        group.mkdir()
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text(str(int(cpus * 100000)))
    except OSError:
        return None
    return group


@pytest.mark.heavy
def test_a_cgroup_quota_of_one_cpu_trains_with_one_thread(tmp_path, budget_env):
    """A container or SLURM job with a CPU quota: the affinity mask shows every core, the
    quota allows one. torch alone takes every core of the mask."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs a machine with 2 CPUs or more")
    group = _cgroup_v1_with_quota(1.0)
    if group is None:
        pytest.skip("cannot create a cgroup with a CPU quota here (needs root and cgroup v1 cpu)")
    probe = tmp_path / "threads.txt"
    try:
        out, _ = _timed_cli(
            ["model=threads_probe", "sweep.n_trials=1", "trainer.max_epochs=1",
             f"hydra.run.dir={tmp_path / 'run'}", "sweep.report=false"],
            tmp_path,
            {**budget_env, "AUTOML_TEST_PROBE": str(probe)},
            preexec_fn=lambda: (group / "cgroup.procs").write_text(str(os.getpid())),
        )  # fmt: skip
    finally:
        group.rmdir()
    assert out.returncode == 0, out.stdout + out.stderr
    assert probe.read_text() == "1"
    assert "1 thread per trial (1 CPU, 1 trial at a time, machine busy x" in out.stdout


def test_cgroup_quotas_are_read_from_v2_and_v1_trees(tmp_path):
    v2 = tmp_path / "v2"
    (v2 / "jobs" / "job1").mkdir(parents=True)
    (v2 / "jobs" / "cpu.max").write_text("300000 100000\n")
    (v2 / "jobs" / "job1" / "cpu.max").write_text("max 100000\n")
    own = tmp_path / "cgroup-v2"
    own.write_text("0::/jobs/job1\n")
    assert cgroup_cpu_limit(v2, str(own)) == 3.0  # the parent's quota holds
    (v2 / "jobs" / "job1" / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(v2, str(own)) == 1.5
    assert usable_cpus(v2, str(own)) == min(len(os.sched_getaffinity(0)), 2)

    v1 = tmp_path / "v1"
    (v1 / "cpu,cpuacct" / "slurm").mkdir(parents=True)
    (v1 / "cpu,cpuacct" / "slurm" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu,cpuacct" / "slurm" / "cpu.cfs_period_us").write_text("100000\n")
    own1 = tmp_path / "cgroup-v1"
    own1.write_text("4:cpu,cpuacct:/slurm\n1:memory:/slurm\n0::/\n")
    assert cgroup_cpu_limit(v1, str(own1)) == 1.0
    (v1 / "cpu,cpuacct" / "slurm" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_limit(v1, str(own1)) is None
    assert cgroup_cpu_limit(tmp_path / "none", str(tmp_path / "missing")) is None


def test_threads_per_trial_share_the_cpus_and_num_threads_overrides(monkeypatch):
    cpus, busy = usable_cpus(), startup_contention()
    assert trial_threads() == max(1, min(round(cpus / busy), DEFAULT_MAX_THREADS))
    monkeypatch.setenv(TRIALS_ENV, "2")
    assert trial_threads() == max(1, min(round(cpus / 2 / busy), DEFAULT_MAX_THREADS))
    assert trial_threads(3) == 3  # trainer.num_threads
    monkeypatch.setenv(TRIALS_ENV, str(cpus * 2))
    assert trial_threads() == 1


def test_a_worker_shares_its_parents_end_and_reserves_nothing(monkeypatch):
    end = time.time() + 30
    monkeypatch.setenv(TRIALS_END_ENV, repr(end))
    worker = TimeBudget.plan(60, report=True)
    assert worker.trials_end == end and worker.reserve == 0 and not worker.report
    monkeypatch.delenv(TRIALS_END_ENV)
    alone = TimeBudget.plan(60, report=False)
    # The export's measured cost, scaled by this machine's contention, comes off the end.
    assert alone.reserve == pytest.approx(EXPORT_CPU_S * alone.factor)
    assert alone.trials_end == pytest.approx(alone.start + 60 - alone.reserve)
    assert alone.start <= time.time() and alone.tolerance == 10.0 and alone.grace == 5.0
    assert TimeBudget.plan(600, report=False).tolerance == 60.0
