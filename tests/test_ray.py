"""``sweep.launcher=ray``: a study's workers as actors of a real local Ray cluster (one per
module: Ray takes seconds and a few hundred MB to start), one merged leaderboard, a killed
worker's trial re-run, signals passed on; its settings checked in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import run_cli, start_cli
from optuna.trial import TrialState
from postgres import free_port
from test_parallel import SLOW, alive, fake_env, study_of, wait_for, worker_pid
from test_parallel import fakes as fakes  # the fixture, shared

# Each test starts a local Ray cluster: the heavy tier (.ci/run).
pytestmark = pytest.mark.heavy

FAST = ["model=forest", "sweep.live=false", "space.n_estimators=10", "sweep.launcher=ray"]


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    """A local Ray cluster for this module (``ray start --head --block``), stopped at its end."""
    try:
        import ray  # noqa: F401
    except ImportError:
        if os.environ.get("AUTOML_REQUIRE_EXTRAS"):
            pytest.fail("Ray is not installed (pip install 'automl[ray]'); CI installs it")
        pytest.skip("the Ray extra is not installed (pip install 'automl[ray]')")
    port = free_port()
    ray_cli = Path(sys.executable).with_name("ray")
    # A loopback-only cluster without Ray's token (whether ~/.ray holds one or not); the
    # tests' commands inherit the setting from this process.
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--num-gpus=0", "--node-ip-address=127.0.0.1", "--include-dashboard=false",
         "--disable-usage-stats"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=tmp_path_factory.mktemp("ray"),
    )  # fmt: skip
    seen = []
    for line in head.stdout:
        seen.append(line)
        if "Ray runtime started" in line:
            break
    else:
        pytest.fail("the Ray head did not start:\n" + "".join(seen))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)  # --block: it stops the processes it started
        try:
            head.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.communicate()
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved


def test_two_ray_workers_run_one_study_with_one_leaderboard(ray_address, tmp_path):
    run_dir = tmp_path / "run"
    args = [*FAST, "sweep.workers=2", "sweep.n_trials=6", "sweep.study_name=ray",
            f"sweep.ray.address={ray_address}", f"hydra.run.dir={run_dir}"]  # fmt: skip
    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr + out.stdout
    assert f"starting 2 Ray actor(s) on {ray_address}" in out.stdout
    trials = study_of("ray", run_dir).get_trials()
    assert len(trials) == 6 and not [t for t in trials if t.state == TrialState.RUNNING]
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 6
    pids = {worker_pid(t) for t in trials}
    assert len(pids) == 2 and not any(alive(p) for p in pids)  # both actors' workers ran
    lines = [x for x in out.stdout.splitlines() if x.startswith("[trial")]
    assert sorted(int(x.split("]")[0].removeprefix("[trial")) for x in lines) == list(range(6))
    assert out.stdout.count("automl summary") == 1
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert len(board["trials"]) == 6 and board["launcher"] == "ray"
    logs = sorted(p.name for p in (run_dir / "workers").iterdir())
    assert logs == ["node-0-worker-0.log", "node-0.log", "node-1-worker-0.log", "node-1.log"]


def test_a_killed_ray_worker_is_replaced_and_its_trial_re_run(ray_address, tmp_path, fakes):  # noqa: F811
    run_dir = tmp_path / "run"
    args = ["model=stuck", "sweep.live=false", "sweep.launcher=ray", "sweep.workers=2",
            "sweep.n_trials=4", "sweep.study_name=raykill", f"sweep.ray.address={ray_address}",
            f"hydra.run.dir={run_dir}"]  # fmt: skip
    # The fakes' path and the marker reach the nodes through the parent (AUTOML_*, PYTHONPATH).
    proc = start_cli(args, tmp_path, env=fake_env(fakes, tmp_path / "marker"))

    def hung():
        for t in study_of("raykill", run_dir).get_trials(states=(TrialState.RUNNING,)):
            if time.time() - t.datetime_start.timestamp() > 1.5 and "worker" in t.user_attrs:
                return t
        return None

    stuck = wait_for(hung, "the hanging trial", proc, timeout=180)
    os.kill(worker_pid(stuck), signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr + stdout
    trials = study_of("raykill", run_dir).get_trials()
    lost = trials[stuck.number]
    assert lost.state == TrialState.FAIL and lost.user_attrs["failure"] == "lost"
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == stuck.number]
    assert retry.state == TrialState.COMPLETE and retry.params == stuck.params
    assert len([t for t in trials if t.state != TrialState.FAIL]) == 4
    # The node of the killed worker replaced it (its second worker log), and said so.
    said = "".join(p.read_text() for p in (run_dir / "workers").glob("node-?.log"))
    assert "killed by SIGKILL" in said and "starting a replacement" in said
    assert list((run_dir / "workers").glob("node-?-worker-1.log"))


def test_sigterm_reaches_every_ray_worker(ray_address, tmp_path):
    run_dir = tmp_path / "run"
    common = ["sweep.launcher=ray", "sweep.workers=2", "sweep.study_name=rayterm",
              f"sweep.ray.address={ray_address}", f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = start_cli([*SLOW, *common, "sweep.n_trials=4"], tmp_path)

    def both_running():
        r = study_of("rayterm", run_dir).get_trials(states=(TrialState.RUNNING,))
        return r if len(r) == 2 and all("worker" in t.user_attrs for t in r) else None

    running = wait_for(both_running, "both workers in a trial", proc, timeout=180)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert not any(alive(worker_pid(t)) for t in running)
    trials = study_of("rayterm", run_dir).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stopped = [t for t in trials if t.number in {r.number for r in running}]
    assert {t.user_attrs["error"] for t in stopped} == {"terminated (SIGTERM)"}
    assert stdout.count("automl summary") == 1


@pytest.mark.parametrize(
    "setting, says",
    [
        ("sweep.ray.num_gpus=1.5", "either a fraction of one GPU"),
        ("sweep.ray.num_cpus=0", "cpus must be > 0"),
        ("sweep.launcher=kubernetes", "is not one of local, slurm, ray"),
    ],
)
def test_ray_settings_are_checked_in_one_line(setting, says, tmp_path):
    out = run_cli([*FAST, setting, f"hydra.run.dir={tmp_path / 'r'}"], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert says in line, line


def test_a_local_cluster_without_gpus_is_refused_before_it_starts(tmp_path):
    from automl.parallel.devices import visible_gpus

    pytest.importorskip("ray", reason="the Ray extra is not installed")
    if visible_gpus():
        pytest.skip("this machine has GPUs: a local cluster can reserve one")
    out = run_cli([*FAST, "sweep.ray.num_gpus=1", f"hydra.run.dir={tmp_path / 'r'}"], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "this machine has no GPU for the local Ray cluster" in line
