"""``sweep.workers=N``: one study, N worker processes, one leaderboard, and the parent's care of
them (signals, a killed worker, a trial stuck in C code, GPU memory), through real processes;
the same study as SLURM jobs through submitit's local executor; the GPU assignment."""

from __future__ import annotations

import json
import os
import signal
import time

import optuna
import pytest
from helpers import TESTS, make_dist, run_cli, start_cli
from optuna.trial import TrialState

from automl.parallel.parent import sqlite_note
from automl.tuning.storage import make_storage

FAST = ["model=forest", "sweep.live=false", "space.n_estimators=10"]
# A forest this large trains for minutes: a signal lands inside the trial.
SLOW = ["model=forest", "sweep.live=false", "space.n_estimators=50000", "sweep.resume=force"]


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """An installed-looking distribution whose entry points name tests/fake_scale.py."""
    site = tmp_path_factory.mktemp("site")
    dist = make_dist(site, "scale_fakes", "0.1")  # not "automl-...": it would shadow automl
    (dist._path / "entry_points.txt").write_text(
        "[automl.models]\nstuck = fake_scale:STUCK\noom = fake_scale:OOM\n"
    )
    return site


def fake_env(site, marker) -> dict[str, str]:
    return {"PYTHONPATH": f"{TESTS}{os.pathsep}{site}", "AUTOML_TEST_MARKER": str(marker)}


def study_of(name: str, run_dir) -> optuna.Study:
    storage = make_storage(str(run_dir / "study.jsonl"), run_dir)
    return optuna.load_study(study_name=name, storage=storage)


def worker_pid(trial) -> int:
    return int(trial.user_attrs["worker"].rsplit("/", 1)[1])


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper does not)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def wait_for(predicate, what: str, proc=None, timeout: float = 120):
    """Poll until ``predicate()`` returns something true; return it (``proc``, if given, must
    live meanwhile)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before {what}:\n{out}\n{err}")
        try:
            found = predicate()
        except (KeyError, FileNotFoundError):  # the study is not created yet
            found = None
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.heavy
def test_two_workers_run_one_study_with_one_leaderboard(tmp_path):
    run_dir = tmp_path / "run"
    args = [*FAST, "sweep.workers=2", "sweep.n_trials=8", "sweep.study_name=two",
            f"hydra.run.dir={run_dir}"]  # fmt: skip
    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr + out.stdout
    trials = study_of("two", run_dir).get_trials()
    assert len(trials) == 8 and not [t for t in trials if t.state == TrialState.RUNNING]
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 8
    pids = {worker_pid(t) for t in trials}
    assert len(pids) == 2 and not any(alive(p) for p in pids)  # both workers ran trials
    # One merged leaderboard, drawn by the parent: a line for every trial, one summary.
    lines = [x for x in out.stdout.splitlines() if x.startswith("[trial")]
    assert sorted(int(x.split("]")[0].removeprefix("[trial")) for x in lines) == list(range(8))
    assert out.stdout.count("automl summary") == 1
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert len(board["trials"]) == 8 and board["workers"] == 2
    assert (run_dir / "best" / "config.yaml").exists()
    # The default storage of several workers is a journal file; each worker has its log.
    assert (run_dir / "study.jsonl").exists() and not (run_dir / "study.db").exists()
    # ... and the run says so, with the dashboard command that opens it (not study.db's).
    journal = run_dir.resolve() / "study.jsonl"
    assert f"note: the study is stored in {journal} " in out.stdout
    assert f"optuna-dashboard {journal} shows it" in out.stdout
    logs = sorted(p.name for p in (run_dir / "workers").iterdir())
    assert logs == ["worker-0.log", "worker-1.log"]
    assert "ran" in (run_dir / "workers" / "worker-0.log").read_text()


def test_sqlite_with_several_workers_is_said_in_one_line():
    note = sqlite_note("sqlite:////tmp/s.db", several=True)
    assert note and "\n" not in note and "SQLite with several writers can lose trials" in note
    assert sqlite_note(None, several=True) == note  # the run directory's existing study.db
    assert sqlite_note("/tmp/s.jsonl", several=True) is None
    assert sqlite_note("postgresql://db/s", several=True) is None
    assert sqlite_note(None, several=False) is None


def test_the_parents_view_shows_every_workers_trials_from_the_storage():
    from rich.console import Console

    from automl.core.study_record import StudyHeader
    from automl.parallel.board import StudyView
    from automl.results.leaderboard import Leaderboard

    study = optuna.create_study(direction="maximize")
    done = study.ask()
    done.set_user_attr("worker", "host/1/100")
    study.tell(done, 0.9)
    running = study.ask()  # another worker's trial, still training
    console = Console(record=True, width=200, file=open(os.devnull, "w"))
    board = Leaderboard(console, StudyHeader("s", n_trials=3, direction="maximize"), [])
    view = StudyView(board, study.get_trials)
    view.refresh()
    assert set(board.rows) == {done.number} and set(board.running) == {running.number}
    study.tell(running, 0.95)
    view.refresh()  # within half a second of the last read: skipped
    assert set(board.running) == {running.number}
    view.refresh(force=True)
    assert board.running == {}
    assert board.best().number == running.number
    lines = [x for x in console.export_text().splitlines() if x.startswith("[trial")]
    assert len(lines) == 2  # one plain line per finished trial, each once


@pytest.mark.heavy
def test_sigterm_to_the_parent_stops_every_worker_and_writes_results(tmp_path):
    run_dir = tmp_path / "run"
    common = ["sweep.workers=2", "sweep.study_name=term", f"hydra.run.dir={run_dir}"]
    assert run_cli([*FAST, *common, "sweep.n_trials=2"], tmp_path).returncode == 0
    proc = start_cli([*SLOW, *common, "sweep.n_trials=6"], tmp_path)

    def both_running():
        r = study_of("term", run_dir).get_trials(states=(TrialState.RUNNING,))
        return r if len(r) == 2 and all("worker" in t.user_attrs for t in r) else None

    running = wait_for(both_running, "both workers in a trial", proc)
    time.sleep(1.0)  # inside the fits
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert not any(alive(worker_pid(t)) for t in running)
    trials = study_of("term", run_dir).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stopped = [t for t in trials if t.number in {r.number for r in running}]
    assert all(t.state == TrialState.FAIL for t in stopped)
    assert {t.user_attrs["error"] for t in stopped} == {"terminated (SIGTERM)"}
    assert all(t.user_attrs["counts"] is False for t in stopped)  # re-run later
    assert "terminated (SIGTERM)" in stdout and stdout.count("automl summary") == 1
    rows = json.loads((run_dir / "leaderboard.json").read_text())["trials"]
    states = sorted(r["state"] for r in rows)  # the two re-runs wait in the study
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "FAIL", "WAITING", "WAITING"]
    assert (run_dir / "best" / "config.yaml").exists()


@pytest.mark.heavy
def test_the_same_study_through_slurm_jobs_on_the_local_executor(tmp_path):
    run_dir = tmp_path / "run"
    args = [*FAST, "sweep.launcher=slurm", "sweep.slurm.executor=local", "sweep.workers=2",
            "sweep.n_trials=6", "sweep.study_name=slurm", f"hydra.run.dir={run_dir}"]  # fmt: skip
    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "submitted 2 job(s)" in out.stdout
    trials = study_of("slurm", run_dir).get_trials()
    assert len(trials) == 6 and not [t for t in trials if t.state == TrialState.RUNNING]
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 6
    # Each job started its own worker (no GPU here: one per job), through the node role.
    logs = sorted(p.name for p in (run_dir / "workers").iterdir())
    assert logs == ["node-0-worker-0.log", "node-1-worker-0.log"]
    results = list((run_dir / "slurm").glob("*_result.pkl"))
    assert len(results) == 2
    assert (run_dir / "best" / "config.yaml").exists()


@pytest.mark.heavy
def test_a_killed_worker_is_replaced_and_its_trial_re_run(tmp_path, fakes):
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    args = ["model=stuck", "sweep.live=false", "sweep.workers=2", "sweep.n_trials=4",
            "sweep.study_name=kill", f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = start_cli(args, tmp_path, env=fake_env(fakes, marker))

    def hung():
        for t in study_of("kill", run_dir).get_trials(states=(TrialState.RUNNING,)):
            if time.time() - t.datetime_start.timestamp() > 1.5:
                return t
        return None

    stuck = wait_for(hung, "the hanging trial", proc)
    os.kill(worker_pid(stuck), signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr + stdout
    trials = study_of("kill", run_dir).get_trials()
    lost = trials[stuck.number]
    assert lost.state == TrialState.FAIL and lost.user_attrs["failure"] == "lost"
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == stuck.number]
    assert retry.state == TrialState.COMPLETE and retry.params == stuck.params
    counted = [t for t in trials if t.state != TrialState.FAIL]
    assert len(counted) == 4
    assert "killed by SIGKILL" in stdout and "starting a replacement" in stdout
    assert (run_dir / "workers" / "worker-2.log").exists()  # the replacement


@pytest.mark.heavy
def test_the_parent_kills_a_worker_stuck_past_the_trial_timeout(tmp_path, fakes):
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    args = ["model=stuck", "sweep.live=false", "sweep.workers=2", "sweep.n_trials=3",
            "sweep.trial_timeout=2", "sweep.study_name=hang",
            f"hydra.run.dir={run_dir}"]  # fmt: skip
    started = time.monotonic()
    out = run_cli(args, tmp_path, timeout=180, env=fake_env(fakes, marker))
    assert out.returncode == 0, out.stderr + out.stdout
    assert time.monotonic() - started < 120  # not the 600 s the trial would sleep
    trials = study_of("hang", run_dir).get_trials()
    (hung,) = [t for t in trials if t.state == TrialState.FAIL]
    assert hung.user_attrs["error"] == "timeout after 2 s"
    assert hung.user_attrs["failure"] == "timeout" and hung.user_attrs["counts"] is True
    assert not alive(worker_pid(hung))
    assert len(trials) == 3 and not [t for t in trials if t.state == TrialState.RUNNING]
    assert f"trial #{hung.number} ran past sweep.trial_timeout=2 s" in out.stdout


@pytest.mark.heavy
def test_out_of_memory_on_a_shared_slot_is_re_run_and_the_packing_backs_off(tmp_path, fakes):
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    args = ["model=oom", "model.oom_once=true", "sweep.live=false", "sweep.workers=2",
            "sweep.n_trials=4", "sweep.study_name=oom", f"hydra.run.dir={run_dir}"]  # fmt: skip
    out = run_cli(args, tmp_path, env=fake_env(fakes, marker))
    assert out.returncode == 0, out.stderr + out.stdout
    trials = study_of("oom", run_dir).get_trials()
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]
    assert failed.user_attrs["failure"] == "oom" and failed.user_attrs["counts"] is False
    assert "OutOfMemoryError" in failed.user_attrs["error"]
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == failed.number]
    assert retry.state == TrialState.COMPLETE and retry.params == failed.params
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 4
    # The worker that ran out of memory gave its slot up; nobody replaced it.
    assert "ran out of memory on the CPU: it holds 1 trial(s) at a time" in out.stdout
    logs = sorted(p.name for p in (run_dir / "workers").iterdir())
    assert logs == ["worker-0.log", "worker-1.log"]
    gave_up = worker_pid(failed)
    assert all(worker_pid(t) != gave_up for t in trials if t.number > failed.number)


@pytest.mark.slow
def test_a_second_signal_kills_every_worker_at_once_and_a_rerun_recovers(tmp_path):
    run_dir = tmp_path / "run"
    common = ["sweep.workers=2", "sweep.study_name=twice", f"hydra.run.dir={run_dir}"]
    proc = start_cli([*SLOW, *common, "sweep.n_trials=4"], tmp_path)

    def both_running():
        r = study_of("twice", run_dir).get_trials(states=(TrialState.RUNNING,))
        return r if len(r) == 2 and all("worker" in t.user_attrs for t in r) else None

    running = wait_for(both_running, "both workers in a trial", proc)
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    # SIGKILLed: gone within moments (the parent does not wait for them).
    wait_for(lambda: not any(alive(worker_pid(t)) for t in running), "the workers' end", None, 10)
    again = run_cli([*FAST, *common, "sweep.n_trials=4", "sweep.resume=force"], tmp_path)
    assert again.returncode == 0, again.stderr
    trials = study_of("twice", run_dir).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    counted = [t for t in trials if t.state != TrialState.FAIL or t.user_attrs.get("counts")]
    assert len(counted) == 4
