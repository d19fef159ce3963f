"""`python -m automl watch` on studies other processes run."""

from __future__ import annotations

import hashlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from helpers import TESTS, cli_env, make_dist, start_cli


def _watch(args: list[str], cwd: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "automl", "watch", *args],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


@pytest.mark.heavy
def test_watch_follows_a_study_another_process_runs_and_exits_at_its_total(tmp_path):
    # Trials of the `gated` model wait for the gate file: they finish only once the watch
    # has started, however fast the machine (a quick real model could be done before).
    site, gate = tmp_path / "site", tmp_path / "gate"
    dist = make_dist(site, "watch_fakes", "0.1")
    (dist._path / "entry_points.txt").write_text("[automl.models]\ngated = fake_scale:GATED\n")
    run_dir = tmp_path / "run"
    env = {"PYTHONPATH": f"{TESTS}{os.pathsep}{site}", "AUTOML_TEST_GATE": str(gate)}
    # The watch starts first, before the study's storage (or its directory) exists: it waits.
    watch = _watch([str(run_dir), "--interval", "0.3"], tmp_path)
    assert watch.stderr is not None and watch.stdout is not None
    waiting = watch.stderr.readline()
    assert waiting.startswith(f"automl watch: waiting up to 120 s for a study at {run_dir} ")
    study_proc = start_cli(
        ["model=gated", "sweep.n_trials=3", f"hydra.run.dir={run_dir}"], tmp_path, env
    )
    try:
        first = watch.stdout.readline()  # the watch is up and has read the study once
        gate.touch()
        out, err = watch.communicate(timeout=300)
        out = first + out
    finally:
        gate.touch()
        study_out, study_err = study_proc.communicate(timeout=300)
    assert study_proc.returncode == 0, study_err
    assert watch.returncode == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"watching study gated-wine ({run_dir / 'study.db'}): ")
    # the total comes from the run's saved config (sweep.n_trials) when the study has none
    assert lines[0].split(": ", 1)[1].split(" finished")[0] == "0/3"
    seen = [line for line in lines if line.startswith("[trial")]
    assert len(seen) == 3, out  # each trial that finished while it watched, one line each
    assert all("done=" in line and "/3" in line for line in seen)
    assert lines[-1] == "study gated-wine holds its 3 trials"

    # read-only: watching the finished study changes nothing in its file
    before = hashlib.sha256((run_dir / "study.db").read_bytes()).hexdigest()
    again = _watch([str(run_dir)], tmp_path)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert hashlib.sha256((run_dir / "study.db").read_bytes()).hexdigest() == before


def _study_with_total(path: Path, total: int, finished: int) -> str:
    url = f"sqlite:///{path}"
    study = optuna.create_study(study_name="s", storage=url, direction="minimize")
    for key, value in (("n_trials", total), ("metric", "rmse"), ("model", "m"), ("data", "d")):
        study.set_user_attr(key, value)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=finished)
    running = study.ask()
    running.suggest_float("x", 0, 1)
    running.report(0.5, 0)
    return url


def test_watch_shows_the_studys_elapsed_time_and_pace_not_its_own(tmp_path):
    import datetime as dt

    from optuna.trial import FrozenTrial, TrialState

    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    study.set_user_attr("n_trials", 8)
    begun = dt.datetime.now() - dt.timedelta(hours=2)  # ran two hours ago, for 4 x 5 minutes
    x = {"x": optuna.distributions.FloatDistribution(0, 1)}
    for i in range(4):
        start = begun + dt.timedelta(minutes=5 * i)
        study.add_trial(
            FrozenTrial(
                number=i, state=TrialState.COMPLETE, value=0.5, params={"x": 0.5},
                distributions=x, user_attrs={}, system_attrs={}, intermediate_values={},
                datetime_start=start, datetime_complete=start + dt.timedelta(minutes=5),
                trial_id=i,
            )
        )  # fmt: skip
    watch = _watch([url, "--interval", "0.2"], tmp_path)
    first = watch.stdout.readline()
    watch.send_signal(signal.SIGINT)
    watch.communicate(timeout=60)
    # the study's 20 minutes of trials (not the watch's own second, nor the 2 hours since),
    # 12 trials/h, and 4 more trials of 5 minutes
    assert first.rstrip().endswith("; elapsed 20m00s, 12 trials/h, about 20m00s left"), first


def test_watch_stops_on_ctrl_c_with_130(tmp_path):
    url = _study_with_total(tmp_path / "s.db", total=10, finished=2)
    watch = _watch([url, "--interval", "0.2"], tmp_path)
    first = watch.stdout.readline()  # the header line: it is watching
    assert first.startswith("watching study s (") and "2/10 finished, 1 running" in first
    assert "best val_rmse=" in first
    watch.send_signal(signal.SIGINT)
    _, err = watch.communicate(timeout=60)
    assert watch.returncode == 130, err
    assert "Traceback" not in err


def test_watch_on_a_terminal_draws_the_table_with_the_running_trial(tmp_path):
    url = _study_with_total(tmp_path / "s.db", total=3, finished=3)
    study = optuna.load_study(study_name="s", storage=url)
    assert len(study.trials) == 4  # 3 finished (the total) and one running
    master, slave = pty.openpty()
    env = {**cli_env(), "COLUMNS": "100", "LINES": "40", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl", "watch", url],
        cwd=tmp_path,
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    assert proc.wait(timeout=30) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "study s" in screen and "val_rmse (min)" in screen and "trials 3/3" in screen
    assert "RUNNING" in screen and "x=" in screen  # the running trial with its parameter


def test_watch_errors_are_one_line_exit_2(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "automl", "watch", str(tmp_path / "nope"), "--wait", "0"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
    )
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("automl watch: error: ") and "not a run directory" in line
