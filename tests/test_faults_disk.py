"""A full disk under a study, as a cluster user meets it: ``ENOSPC`` at each write a trial
makes (its config, ``metrics.csv``, the model file, then ``error.txt``), and a real small
file system (tmpfs) that fills up. The trial is failed with the reason and re-run later, no
trial stays RUNNING, no temporary file keeps the space, and the study stops with one line
saying what to free; once there is room the same command finishes the study."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import optuna
import pytest
from helpers import TESTS, run_cli
from optuna.trial import TrialState

from automl.tuning.storage import make_storage

FAST = ["model=forest", "sweep.live=false", "space.n_estimators=20"]


def _study(name: str, run_dir) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(None, run_dir))


def _full(*patterns: str) -> dict[str, str]:
    """The environment that makes writes to files matching ``patterns`` fail with ENOSPC."""
    return {
        "PYTHONPATH": f"{TESTS / 'enospc'}{os.pathsep}{TESTS}",
        "AUTOML_TEST_ENOSPC": ";".join(patterns),
    }


def _partials(run_dir) -> list[str]:
    return [p.name for p in run_dir.rglob(".*") if p.name.endswith((".tmp", ".partial"))]


def _check_stopped_on_a_full_disk(out, run_dir, name: str) -> optuna.trial.FrozenTrial:
    assert out.returncode == 1, out.stderr + out.stdout
    assert "Traceback" not in out.stderr + out.stdout
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("automl: stopped:")]
    assert f"the disk holding {run_dir} is full" in line and "No space left on device" in line
    assert "free space there" in line and "trial #0 is re-run first" in line
    trials = _study(name, run_dir).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    full = trials[0]
    assert full.state == TrialState.FAIL and full.user_attrs["failure"] == "disk"
    assert full.user_attrs["error"].startswith("the disk was full (OSError: [Errno 28]")
    assert full.user_attrs["counts"] is False  # not the configuration's fault: re-run
    assert len(trials) == 2 and trials[1].state == TrialState.WAITING  # its re-run, queued
    assert _partials(run_dir) == []
    return full


@pytest.mark.parametrize(
    "patterns",
    [
        # The case: the model's save fails, then the fallback error.txt too.
        ("*/trials/*/.model.skops.*", "*/trials/*/*error.txt*"),
        pytest.param(("*/trials/*/*config.yaml*",), marks=pytest.mark.slow),
        pytest.param(("*/trials/*/metrics.csv",), marks=pytest.mark.slow),
        pytest.param(("*/trials/*/.model.skops.*",), marks=pytest.mark.slow),
    ],
    ids=["model+error.txt", "config.yaml", "metrics.csv", "model"],
)
@pytest.mark.heavy
def test_a_full_disk_at_each_write_of_a_trial_stops_with_one_line(tmp_path, patterns):
    run_dir, name = tmp_path / "run", "full"
    args = [*FAST, f"sweep.study_name={name}", f"hydra.run.dir={run_dir}", "sweep.n_trials=2"]
    out = run_cli(args, tmp_path, env=_full(*patterns))
    full = _check_stopped_on_a_full_disk(out, run_dir, name)
    # Room again: the same command re-runs the trial first and finishes the study.
    again = run_cli(args, tmp_path)
    assert again.returncode == 0, again.stderr
    trials = _study(name, run_dir).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL] + [TrialState.COMPLETE] * 2
    assert trials[1].user_attrs["retry_of"] == 0 and trials[1].params == full.params
    assert (run_dir / "best" / "model.skops").is_file() and _partials(run_dir) == []


def _mount_tmpfs(path, megabytes: int) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0


@pytest.mark.slow  # a real file system filled by real trials: a dozen forests
def test_a_small_disk_that_fills_up_stops_the_study_with_one_line(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, 12):
        pytest.skip("needs root and mount (a tmpfs of 12 MB)")
    try:
        run_dir, name = disk / "run", f"tmpfs-{uuid.uuid4().hex[:6]}"
        args = ["model=forest", "data=wine", "sweep.live=false", "space.n_estimators=400",
                f"sweep.study_name={name}", f"hydra.run.dir={run_dir}",
                "sweep.n_trials=40"]  # fmt: skip
        out = run_cli(args, tmp_path, timeout=1200)
        assert out.returncode == 1, out.stderr + out.stdout
        assert "Traceback" not in out.stderr + out.stdout
        stopped = [x for x in out.stdout.splitlines() if x.startswith("automl: stopped:")]
        assert len(stopped) == 1 and f"the disk holding {run_dir} is full" in stopped[0]
        trials = _study(name, run_dir).get_trials()
        assert not [t for t in trials if t.state == TrialState.RUNNING]
        (full,) = [t for t in trials if t.user_attrs.get("failure") == "disk"]
        assert full.user_attrs["counts"] is False
        assert _partials(run_dir) == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
