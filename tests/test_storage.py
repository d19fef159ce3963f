"""Study storages as clusters use them: a real PostgreSQL server and a journal file shared by
concurrent workers, a worker killed mid-trial, and storage mistakes reported in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from helpers import run_cli, start_cli
from optuna.trial import TrialState
from postgres import free_port

from automl.tuning.lost import GONE_TRIAL
from automl.tuning.storage import LOST_TRIAL, make_storage

# Forest trials on breast cancer: about a second each and no Lightning start-up, so two
# workers overlap for several trials.
FOREST = ["model=forest", "space.n_estimators=400", "sweep.live=false"]


def _trial_dirs(run_dir) -> set[int]:
    return {int(p.name) for p in (run_dir / "trials").iterdir()}


# Two terminals on one SQLite file stay in the default run; journal and PostgreSQL with several
# workers are in it too (tests/test_workers.py), so their two-worker resume here is slow.
@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.slow),
        pytest.param("journal", marks=pytest.mark.slow),
        "sqlite",
        "grpc",  # the only two-process resume through the storage proxy
    ]
)
def shared_storage(request, tmp_path):
    if request.param in ("postgres", "grpc"):
        return request.getfixturevalue(f"{request.param}_url")
    if request.param == "sqlite":  # two workers on one machine, one SQLite file
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return str(tmp_path / "shared" / "study.jsonl")


@pytest.mark.heavy
def test_two_workers_share_one_study_then_resume(shared_storage, tmp_path):
    name = f"shared-{os.getpid()}-{time.monotonic_ns()}"
    common = [*FOREST, f"sweep.storage={shared_storage}", f"sweep.study_name={name}"]
    runs = [tmp_path / "node-a", tmp_path / "node-b"]  # as on two machines: own run dirs
    workers = [
        start_cli([*common, "sweep.n_trials=10", f"hydra.run.dir={r}"], tmp_path) for r in runs
    ]
    done_seen = []
    for proc in workers:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        assert "automl summary" in stdout
        lines = [line for line in stdout.splitlines() if line.startswith("[trial")]
        assert all(" steps=" in line for line in lines)  # forest stages, not "epochs"
        done_seen.append(
            (len(lines), max(int(line.split("done=")[1].split("/")[0]) for line in lines))
        )

    study = optuna.load_study(study_name=name, storage=make_storage(shared_storage, tmp_path))
    trials = study.get_trials()
    # Each worker stops once the study holds 10 trials; both may have asked for the 10th.
    assert 10 <= len(trials) <= 11
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    by_worker = [_trial_dirs(r) for r in runs]
    assert all(by_worker), f"one worker ran no trial: {by_worker}"
    assert not by_worker[0] & by_worker[1]
    assert by_worker[0] | by_worker[1] == {t.number for t in trials}
    # Each worker's log counts the other's trials too (its board syncs with the storage).
    assert any(done > own for own, done in done_seen), done_seen

    again = run_cli([*common, f"sweep.n_trials={len(trials) + 2}", f"hydra.run.dir={runs[0]}"],
                    tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert f"resuming study '{name}': {len(trials)} trials done, 2 to go" in again.stdout
    assert len(study.get_trials()) == len(trials) + 2
    board = json.loads((runs[0] / "leaderboard.json").read_text())
    assert len(board["trials"]) == len(trials) + 2  # the board shows every worker's trials


def _kill_inside_first_trial(common: list[str], name: str, db, cwd) -> optuna.Study:
    """Start a worker, SIGKILL it inside its first trial; return the study (trial RUNNING)."""
    # A forest this large trains for minutes: the worker is killed inside its first trial.
    proc = start_cli([*common, "space.n_estimators=50000", "sweep.n_trials=5"], cwd)
    deadline = time.monotonic() + 120
    running: list = []
    while not running and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            study = optuna.load_study(study_name=name, storage=db)
        except KeyError:  # not created yet
            continue
        running = study.get_trials(states=(TrialState.RUNNING,))
    assert running, "the worker never started a trial"
    time.sleep(1.5)  # at least one heartbeat recorded
    proc.send_signal(signal.SIGKILL)  # no handler runs: the trial stays RUNNING in storage
    proc.communicate(timeout=60)
    assert study.get_trials()[0].state == TrialState.RUNNING
    return study


def _resume_and_check(common, name, run_dir, study, reason, note, cwd) -> None:
    # The study's identity changes with the forest's size: the rerun says to go on anyway.
    args = [*common, "space.n_estimators=50", "sweep.n_trials=2", "sweep.resume=force"]
    resumed = run_cli(args, cwd)
    assert resumed.returncode == 0, resumed.stderr
    lost, retry, new = study.get_trials()
    assert lost.state == TrialState.FAIL and lost.user_attrs["error"] == reason
    assert lost.user_attrs["failure"] == "lost" and lost.user_attrs["counts"] is False
    # The lost trial is re-run with its parameters and does not count: two trials count.
    assert retry.user_attrs["retry_of"] == lost.number and retry.params == lost.params
    assert retry.state == new.state == TrialState.COMPLETE
    rows = json.loads((run_dir / "leaderboard.json").read_text())["trials"]
    assert any(r["state"] == "FAIL" and note in r["note"] for r in rows)


def _worker_args(name: str, run_dir, url: str | None, *extra: str) -> list[str]:
    storage = [f"sweep.storage={url}"] if url else []
    return ["model=forest", "sweep.live=false", f"sweep.study_name={name}",
            f"hydra.run.dir={run_dir}", *storage, *extra]  # fmt: skip


@pytest.mark.slow  # kill -9 of a worker and its retry run by default in tests/test_faults.py
@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_a_worker_killed_on_this_machine_is_failed_at_once_on_rerun(storage, tmp_path):
    name, run_dir = f"gone-{storage}-{time.monotonic_ns()}", tmp_path / "run"
    url = str(tmp_path / "study.jsonl") if storage == "journal" else None
    common = _worker_args(name, run_dir, url)  # default heartbeats: 30 s, grace 120 s
    study = _kill_inside_first_trial(common, name, make_storage(url, run_dir), tmp_path)
    # No waiting: the rerun sees that the trial's process is gone from this machine.
    _resume_and_check(common, name, run_dir, study, GONE_TRIAL, "process is gone", tmp_path)


@pytest.mark.parametrize(
    "storage", [pytest.param("sqlite", marks=pytest.mark.slow), "postgres", "grpc"]
)
@pytest.mark.heavy
def test_a_worker_lost_elsewhere_is_failed_by_its_heartbeats(storage, request, tmp_path):
    name, run_dir = f"lost-{storage}-{time.monotonic_ns()}", tmp_path / "run"
    url = request.getfixturevalue(f"{storage}_url") if storage != "sqlite" else None
    common = _worker_args(name, run_dir, url, "sweep.heartbeat_interval=1", "sweep.grace_period=3")
    db = make_storage(url, run_dir)
    study = _kill_inside_first_trial(common, name, db, tmp_path)
    # As if the worker had run on another node: this machine cannot see its process.
    db.set_trial_user_attr(study.get_trials()[0]._trial_id, "worker", "node-7/1/4242")
    time.sleep(4)  # past the grace period
    _resume_and_check(common, name, run_dir, study, LOST_TRIAL, "heartbeats", tmp_path)


@pytest.mark.heavy
def test_unreachable_database_is_one_line_and_hides_the_password(tmp_path):
    url = f"postgresql://someone:s3cret@127.0.0.1:{free_port()}/studies"
    out = run_cli([*FOREST, f"sweep.storage={url}", f"hydra.run.dir={tmp_path / 'r'}"], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(
        f"automl: error: sweep.storage=postgresql://someone:***@127.0.0.1:{url.split(':')[3]}"
    )
    assert "cannot open the study storage" in line and "server runs" in line
    assert "s3cret" not in out.stderr + out.stdout


def test_missing_database_driver_names_what_to_install(tmp_path):
    # pg8000 is a real PostgreSQL driver that automl does not install.
    url = "postgresql+pg8000://someone@127.0.0.1:5432/studies"
    out = run_cli([*FOREST, f"sweep.storage={url}", f"hydra.run.dir={tmp_path / 'r'}"], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "the database driver is not installed" in line
    assert line.endswith("install the pg8000 package")


def test_heartbeat_settings_are_checked(tmp_path):
    out = run_cli(
        [
            *FOREST,
            "sweep.heartbeat_interval=30",
            "sweep.grace_period=10",
            f"hydra.run.dir={tmp_path}",
        ],
        tmp_path,
    )
    assert out.returncode == 2
    assert "the grace period longer than it" in out.stderr
    assert not (tmp_path / "study.db").exists()


@pytest.mark.slow  # 20 s of two full studies; the parent of sweep.workers writes once instead
def test_workers_sharing_a_run_dir_take_turns_writing_it(tmp_path):
    import fcntl

    from automl.tuning.lock import LOCK_FILE

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    name = f"turns-{time.monotonic_ns()}"
    args = [*FOREST, "sweep.n_trials=2", f"sweep.study_name={name}", f"hydra.run.dir={run_dir}"]
    with open(run_dir / LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another worker writing its results
        proc = start_cli(args, tmp_path)
        db = make_storage(None, run_dir)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                done = optuna.load_study(study_name=name, storage=db).get_trials()
            except KeyError:
                continue
            if len(done) == 2 and all(t.state.is_finished() for t in done):
                break
        time.sleep(2)
        assert proc.poll() is None, "the worker did not wait for the lock"
        assert not (run_dir / "best").exists() and not (run_dir / "leaderboard.json").exists()
        fcntl.flock(held, fcntl.LOCK_UN)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert json.loads((run_dir / "best" / "metrics.json").read_text())["test"]["test_acc"] > 0.8

    # Two workers in one run directory: both finish, and best/ holds the study's best trial.
    both = [start_cli([*args, "sweep.n_trials=12"], tmp_path) for _ in range(2)]
    for proc in both:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    best = optuna.load_study(study_name=name, storage=db).best_trial.number
    assert f"trial: {best}\n" in (run_dir / "best" / "config.yaml").read_text()
    assert len(json.loads((run_dir / "leaderboard.json").read_text())["trials"]) >= 12


def test_only_an_exited_process_of_this_machine_counts_as_gone():
    from automl.tuning.lost import _gone, worker_id

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    here, _, _ = worker_id().rpartition("/")
    assert _gone(f"{here}/{done.stdout.strip()}")  # exited
    assert not _gone(worker_id())  # this very process
    assert not _gone(f"{here}/1")  # alive (init), whoever runs it
    assert not _gone(f"another-host/{here.split('/')[1]}/{done.stdout.strip()}")
    assert not _gone("") and not _gone("garbage")  # trials recorded before automl stored it
