"""``sweep.storage=grpc://...``: a study's workers through a real ``automl storage-proxy`` in
front of a real PostgreSQL server: the admission lock a killed worker cannot keep, a killed
worker's trial re-run, SIGTERM, and the proxy's own mistakes in one line. (Two workers sharing
a study and resuming it, and heartbeats, run through the proxy in tests/test_storage.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import optuna
import pytest
from helpers import main_with_imports, run_cli, start_cli
from optuna.trial import TrialState
from postgres import free_port
from test_parallel import SLOW, alive, fake_env, wait_for, worker_pid
from test_parallel import fakes as fakes  # the fixture, shared

from automl.tuning.storage import make_storage

FAST = ["model=forest", "sweep.live=false", "space.n_estimators=10"]


def study_of(name: str, url: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(url, "."))


def test_a_worker_killed_holding_the_admission_lock_releases_it(grpc_url, tmp_path):
    from automl.tuning.admission import admission

    key = f"held-{time.monotonic_ns()}"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from automl.tuning.admission import admission; "
         "from automl.tuning.storage import make_storage; "
         f"lock = admission(make_storage({grpc_url!r}, '.'), {key!r}); lock.__enter__(); "
         "print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        granted = threading.Event()

        def wait_for_lock() -> None:
            with admission(make_storage(grpc_url, tmp_path), key):
                granted.set()

        waiter = threading.Thread(target=wait_for_lock, daemon=True)
        waiter.start()
        assert not granted.wait(2.0), "the lock was granted while another process held it"
        holder.send_signal(signal.SIGKILL)  # no handler runs: only its connection closes
        assert granted.wait(30), "the lock of a killed holder was never released"
        waiter.join(10)
    finally:
        holder.kill()
        holder.communicate()


def test_the_lock_is_granted_in_arrival_order():
    from automl.tuning.grpc_proxy import FairLock

    lock, order = FairLock(), []
    first = lock.acquire(lambda: True)
    assert first is not None

    def take(i: int) -> None:
        turn = lock.acquire(lambda: True)
        order.append(i)
        lock.release(turn)

    threads = []
    for i in range(5):
        threads.append(threading.Thread(target=take, args=(i,)))
        threads[-1].start()
        while lock.waiting < i + 2:  # in line before the next one comes
            time.sleep(0.01)
    lock.release(first)
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]


@pytest.mark.heavy
def test_a_killed_worker_is_replaced_and_its_trial_re_run_through_the_proxy(
    grpc_url,
    tmp_path,
    fakes,  # noqa: F811
):
    name, run_dir = f"kill-{time.monotonic_ns()}", tmp_path / "run"
    args = ["model=stuck", "sweep.live=false", "sweep.workers=2", "sweep.n_trials=4",
            f"sweep.study_name={name}", f"sweep.storage={grpc_url}",
            f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = start_cli(args, tmp_path, env=fake_env(fakes, tmp_path / "marker"))

    def hung():
        for t in study_of(name, grpc_url).get_trials(states=(TrialState.RUNNING,)):
            if time.time() - t.datetime_start.timestamp() > 1.5 and "worker" in t.user_attrs:
                return t
        return None

    stuck = wait_for(hung, "the hanging trial", proc)
    os.kill(worker_pid(stuck), signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr + stdout
    trials = study_of(name, grpc_url).get_trials()
    lost = trials[stuck.number]
    assert lost.state == TrialState.FAIL and lost.user_attrs["failure"] == "lost"
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == stuck.number]
    assert retry.state == TrialState.COMPLETE and retry.params == stuck.params
    assert len([t for t in trials if t.state != TrialState.FAIL]) == 4
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert "killed by SIGKILL" in stdout and "starting a replacement" in stdout
    assert stdout.count("automl summary") == 1


@pytest.mark.slow  # the signal's path is the same on every storage (tests/test_parallel.py)
def test_sigterm_to_the_parent_stops_every_worker_through_the_proxy(grpc_url, tmp_path):
    name, run_dir = f"term-{time.monotonic_ns()}", tmp_path / "run"
    common = ["sweep.workers=2", f"sweep.study_name={name}", f"sweep.storage={grpc_url}",
              f"hydra.run.dir={run_dir}"]  # fmt: skip
    assert run_cli([*FAST, *common, "sweep.n_trials=2"], tmp_path).returncode == 0
    proc = start_cli([*SLOW, *common, "sweep.n_trials=6"], tmp_path)

    def both_running():
        r = study_of(name, grpc_url).get_trials(states=(TrialState.RUNNING,))
        return r if len(r) == 2 and all("worker" in t.user_attrs for t in r) else None

    running = wait_for(both_running, "both workers in a trial", proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert not any(alive(worker_pid(t)) for t in running)
    trials = study_of(name, grpc_url).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stopped = [t for t in trials if t.number in {r.number for r in running}]
    assert {t.user_attrs["error"] for t in stopped} == {"terminated (SIGTERM)"}
    assert all(t.user_attrs["counts"] is False for t in stopped)  # re-run later
    rows = json.loads((run_dir / "leaderboard.json").read_text())["trials"]
    assert sorted(r["state"] for r in rows) == [
        "COMPLETE", "COMPLETE", "FAIL", "FAIL", "WAITING", "WAITING"
    ]  # fmt: skip


@pytest.mark.heavy
def test_proxy_mistakes_are_one_line(tmp_path, postgres_url):
    out = run_cli(["storage-proxy", str(tmp_path / "study.jsonl")], tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "the proxy serves a database" in out.stderr
    out = run_cli(["storage-proxy", postgres_url, "--port", "0x"], tmp_path)
    assert out.returncode == 2 and "invalid int value" in out.stderr
    # A worker pointed at a bad proxy address, or at one where nothing answers.
    out = run_cli(
        [*FAST, "sweep.storage=grpc://no-port", f"hydra.run.dir={tmp_path / 'r'}"], tmp_path
    )
    assert out.returncode == 2 and "a proxy URL is grpc://HOST:PORT" in out.stderr
    url = f"grpc://127.0.0.1:{free_port()}"
    out = run_cli([*FAST, f"sweep.storage={url}", f"hydra.run.dir={tmp_path / 'r'}"], tmp_path)
    assert out.returncode == 2, out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "no storage proxy answers there" in line and "storage-proxy" in line


def test_storage_proxy_help_is_light(tmp_path):
    out = main_with_imports(["storage-proxy", "--help"], ("optuna", "grpc", "torch"), tmp_path)
    assert out.returncode == 0 and "sweep.storage=grpc://HOST:PORT" in out.stdout
    assert out.stdout.rstrip().endswith("HEAVY []")
