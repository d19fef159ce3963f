"""Signals and kills as schedulers deliver them: SIGTERM with SLURM's 30 s before SIGKILL (the
end is bounded: a ``best/`` that already holds the chosen trial is kept, the report is
skipped, an export that takes too long is left for the next run), SIGTERM to every process of
a job at once, and one of four PostgreSQL workers killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import optuna
import pytest
from helpers import run_cli, start_cli
from optuna.trial import TrialState

from automl.core.errors import Interrupted
from automl.tuning.signals import StopSignals
from automl.tuning.storage import make_storage

FAST = ["model=forest", "sweep.live=false", "space.n_estimators=20"]
# A forest this large trains for minutes: a signal lands inside the trial.
SLOW = ["model=forest", "sweep.live=false", "space.n_estimators=50000", "sweep.resume=force"]


def _study(name: str, run_dir, url: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(url, run_dir))


def _wait(predicate, what: str, proc, timeout: float = 600):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before {what}:\n{out}\n{err}")
        try:
            found = predicate()
        except KeyError:  # the study is not created yet
            found = None
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _running(name: str, run_dir, count: int = 1, url: str | None = None):
    """The RUNNING trials once ``count`` of them are inside their fit (config written)."""
    storage = make_storage(url, run_dir)

    def look():
        study = optuna.load_study(study_name=name, storage=storage)
        running = study.get_trials(states=(TrialState.RUNNING,))
        inside = [
            t
            for t in running
            if "worker" in t.user_attrs
            and (run_dir / "trials" / f"{t.number:04d}" / "config.yaml").exists()
        ]
        return inside if len(inside) >= count else None

    return look


def test_the_bounded_end_after_a_stop_is_raised_again_until_it_lands():
    """The export after SIGTERM is cut at its bound even when the first raise is lost in a
    library's finalizer (skops' ZipFile.__del__ swallowed it, and a 2000-tree export then
    ran 30 s past the signal)."""
    swallowed = 0
    with StopSignals(exit_on_second=False) as signals:
        os.kill(os.getpid(), signal.SIGTERM)  # between trials: only recorded
        time.sleep(0)
        with pytest.raises(Interrupted):
            with signals.bounded(0.2):
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        time.sleep(0.01)
                    except Interrupted:
                        swallowed += 1  # as a finalizer would: the first one is lost
                        if swallowed > 1:
                            raise
    assert swallowed == 2
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_stop_lost_in_a_finalizer_is_not_reported(monkeypatch):
    """Python reports an exception raised in a finalizer ("Exception ignored ... Traceback");
    a stop lost there is raised again anyway, so it is not reported; anything else is."""
    reported: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: reported.append(u.exc_value))

    class Finalized:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

        def __del__(self) -> None:
            raise self.exc

    with StopSignals(exit_on_second=False):
        Finalized(Interrupted(signal.SIGTERM))  # dropped at once: its __del__ raises
        Finalized(ValueError("a real bug"))
    assert [str(e) for e in reported] == ["a real bug"]


@pytest.mark.heavy
def test_sigterm_keeps_a_best_dir_that_holds_the_chosen_trial_and_skips_the_report(tmp_path):
    run_dir, name = tmp_path / "run", "known"
    common = [f"sweep.study_name={name}", f"hydra.run.dir={run_dir}"]
    assert run_cli([*FAST, *common, "sweep.n_trials=1"], tmp_path).returncode == 0
    model = run_dir / "best" / "model.skops"
    before = model.stat()
    proc = start_cli([*SLOW, *common, "sweep.n_trials=3", "sweep.report=true"], tmp_path)
    _wait(_running(name, run_dir), "trial 1 inside its fit", proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    # best/ already held trial 0, the only complete one: nothing was exported again.
    after = model.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert "test_acc=" in stdout and "terminated (SIGTERM)" in stdout
    assert not (run_dir / "report").exists()  # skipped after a signal
    assert json.loads((run_dir / "leaderboard.json").read_text())["trials"]


@pytest.mark.slow  # a forest of 3000 trees: minutes to train, seconds to export
def test_sigterm_bounds_the_export_of_a_large_model(tmp_path):
    run_dir, name = tmp_path / "run", "large"
    common = ["model=forest", "sweep.live=false", f"sweep.study_name={name}",
              f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = start_cli([*common, "space.n_estimators=3000", "sweep.n_trials=1"], tmp_path)
    stdout, stderr = proc.communicate(timeout=1800)
    assert proc.returncode == 0, stderr
    (run_dir / "best" / "metrics.json").unlink()  # best/ no longer known to hold trial 0
    proc = start_cli([*common, "space.n_estimators=50000", "sweep.n_trials=3",
                      "sweep.resume=force", "sweep.report=true"], tmp_path)  # fmt: skip
    _wait(_running(name, run_dir), "trial 1 inside its fit", proc)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    took = time.monotonic() - start
    assert proc.returncode == 143, stderr
    print(f"SIGTERM to exit with a 3000-tree forest to export: {took:.1f} s")
    assert not list(run_dir.glob(".best.partial*"))
    exported = (run_dir / "best" / "metrics.json").exists()
    abandoned = "takes longer than the 10 s left to it after the stop signal" in stdout
    assert exported != abandoned, stdout
    if abandoned:
        assert "sweep.n_trials=1 to write it without more trials" in stdout
    assert not (run_dir / "report").exists()


@pytest.mark.slow  # two workers started and stopped
def test_sigterm_to_every_process_of_a_job_at_once_as_slurm_sends_it(tmp_path):
    run_dir, name = tmp_path / "run", "slurm-term"
    common = ["sweep.workers=2", f"sweep.study_name={name}", f"hydra.run.dir={run_dir}"]
    assert run_cli([*FAST, *common, "sweep.n_trials=2"], tmp_path).returncode == 0
    proc = start_cli([*SLOW, *common, "sweep.n_trials=6"], tmp_path)
    url = str(run_dir / "study.jsonl")
    running = _wait(_running(name, run_dir, 2, url), "both workers in a trial", proc)
    # scancel: the scheduler signals the job's every process, not only the parent.
    workers = {int(t.user_attrs["worker"].rsplit("/", 1)[1]) for t in running}
    for pid in [proc.pid, *workers]:
        os.kill(pid, signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    trials = _study(name, run_dir, url).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stopped = [t for t in trials if t.number in {r.number for r in running}]
    assert {t.user_attrs["error"] for t in stopped} == {"terminated (SIGTERM)"}
    assert all(t.user_attrs["counts"] is False for t in stopped)
    assert stdout.count("automl summary") == 1 and (run_dir / "leaderboard.json").exists()
    again = run_cli([*FAST, *common, "sweep.n_trials=6", "sweep.resume=force"], tmp_path)
    assert again.returncode == 0, again.stderr
    trials = _study(name, run_dir, url).get_trials()
    counted = [t for t in trials if t.state != TrialState.FAIL or t.user_attrs.get("counts")]
    assert len(counted) == 6 and not [t for t in trials if t.state == TrialState.RUNNING]


@pytest.mark.slow  # four workers on a real PostgreSQL server
def test_one_of_four_postgres_workers_killed_is_replaced_and_its_trial_re_run(
    tmp_path, postgres_url
):
    run_dir, name = tmp_path / "run", f"four-{time.monotonic_ns()}"
    args = ["model=forest", "sweep.live=false", "space.n_estimators=400", "sweep.workers=4",
            "sweep.n_trials=8", f"sweep.storage={postgres_url}", f"sweep.study_name={name}",
            f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = start_cli(args, tmp_path)
    (victim, *_) = _wait(_running(name, run_dir, 1, postgres_url), "a trial", proc)
    os.kill(int(victim.user_attrs["worker"].rsplit("/", 1)[1]), signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=1800)
    assert proc.returncode == 0, stderr + stdout
    assert "killed by SIGKILL" in stdout and "starting a replacement" in stdout
    trials = _study(name, run_dir, postgres_url).get_trials()
    lost = trials[victim.number]
    assert lost.state == TrialState.FAIL and lost.user_attrs["failure"] == "lost"
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == victim.number]
    assert retry.state == TrialState.COMPLETE and retry.params == lost.params
    counted = [t for t in trials if t.state != TrialState.FAIL or t.user_attrs.get("counts")]
    assert len(counted) == 8 and not [t for t in trials if t.state == TrialState.RUNNING]
