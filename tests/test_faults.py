"""A study stopped the ways a cluster stops it, through real processes and real signals:
SIGTERM/SIGINT mid-trial, a second signal, kill -9 and its retry, a torn journal, a damaged
SQLite file, a refused command that must leave nothing behind, a database restart."""

from __future__ import annotations

import json
import os
import signal
import time

import optuna
import pytest
from helpers import run_cli, start_cli
from optuna.trial import TrialState

from automl.tuning.storage import make_storage

FAST = ["model=forest", "sweep.live=false", "space.n_estimators=20"]
# A forest this large trains for minutes: a signal or a kill lands inside the trial.
SLOW = ["model=forest", "sweep.live=false", "space.n_estimators=50000", "sweep.resume=force"]


def _common(name: str, run_dir, storage: str | None = None) -> list[str]:
    extra = [f"sweep.storage={storage}"] if storage else []
    return [f"sweep.study_name={name}", f"hydra.run.dir={run_dir}", *extra]


def _study(name: str, run_dir, storage: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(storage, run_dir))


def _wait_running(name: str, run_dir, number: int, storage: str | None = None) -> None:
    """Poll the storage until trial ``number`` is RUNNING with its parameters sampled."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            trials = _study(name, run_dir, storage).get_trials()
        except KeyError:
            trials = []
        if any(t.number == number and t.state == TrialState.RUNNING for t in trials):
            if (run_dir / "trials" / f"{number:04d}" / "config.yaml").exists():
                time.sleep(0.5)  # inside the fit, past its first lines
                return
        time.sleep(0.2)
    raise AssertionError(f"trial {number} never started")


@pytest.mark.parametrize("signum, code, why", [
    (signal.SIGTERM, 143, "terminated (SIGTERM)"),
    (signal.SIGINT, 130, "interrupted (Ctrl-C)"),
])  # fmt: skip
@pytest.mark.heavy
def test_a_stop_signal_mid_trial_fails_it_writes_results_and_reruns_it(tmp_path, signum, code, why):
    run_dir, name = tmp_path / "run", f"sig-{signum}"
    common = _common(name, run_dir)
    assert run_cli([*FAST, *common, "sweep.n_trials=1"], tmp_path).returncode == 0
    proc = start_cli([*SLOW, *common, "sweep.n_trials=3"], tmp_path)
    _wait_running(name, run_dir, 1)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    trials = _study(name, run_dir).get_trials()
    states = [t.state for t in trials]
    assert TrialState.RUNNING not in states
    stopped = trials[1]
    assert stopped.state == TrialState.FAIL and stopped.user_attrs["error"] == why
    assert stopped.user_attrs["failure"] == "signal" and stopped.user_attrs["counts"] is False
    # Its re-run waits in the study with the same parameters.
    (retry,) = [t for t in trials if t.state == TrialState.WAITING]
    assert retry.user_attrs["retry_of"] == 1 and retry.user_attrs["attempt"] == 1
    assert retry.system_attrs["fixed_params"] == stopped.params
    # Results written: the leaderboard (with the reason), best/ from trial 0, the summary.
    rows = json.loads((run_dir / "leaderboard.json").read_text())["trials"]
    assert any(why in r["note"] for r in rows)
    assert "trial: 0\n" in (run_dir / "best" / "config.yaml").read_text()
    assert why in stdout and "automl summary" in stdout
    # The rerun runs the retry first, with the stopped trial's parameters.
    again = run_cli([*FAST, *common, "sweep.n_trials=2", "sweep.resume=force"], tmp_path)
    assert again.returncode == 0, again.stderr
    trials = _study(name, run_dir).get_trials()
    assert trials[2].state == TrialState.COMPLETE and trials[2].params == stopped.params
    assert len(trials) == 3  # #1 does not count: two counting trials, the total


@pytest.mark.heavy
def test_a_second_signal_exits_at_once_and_the_trial_is_recovered(tmp_path):
    run_dir, name = tmp_path / "run", "twice"
    common = _common(name, run_dir)
    proc = start_cli([*SLOW, *common, "sweep.n_trials=2"], tmp_path)
    _wait_running(name, run_dir, 0)
    # Stop the first handling half-way by asking twice in a row.
    proc.send_signal(signal.SIGTERM)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    again = run_cli([*FAST, *common, "sweep.n_trials=2", "sweep.resume=force"], tmp_path)
    assert again.returncode == 0, again.stderr
    trials = _study(name, run_dir).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    counted = [t for t in trials if t.state != TrialState.FAIL or t.user_attrs.get("counts")]
    assert len(counted) == 2


@pytest.mark.heavy
def test_a_torn_journal_is_repaired_and_the_study_continues(tmp_path):
    run_dir, journal = tmp_path / "run", tmp_path / "study.jsonl"
    common = _common("torn", run_dir, str(journal))
    assert run_cli([*FAST, *common, "sweep.n_trials=1"], tmp_path).returncode == 0
    with open(journal, "ab") as handle:  # a writer killed in the middle of a record
        handle.write(b'{"op_code": 5, "worker_id": "x", "trial_id": 0, "us')
    again = run_cli([*FAST, *common, "sweep.n_trials=2"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"note: repaired {journal}" in again.stdout
    (backup,) = tmp_path.glob("study.jsonl.torn-*.bak")
    assert backup.read_bytes().endswith(b'"us')
    assert journal.read_bytes().endswith(b"\n")
    assert len(_study("torn", run_dir, str(journal)).get_trials()) == 2


@pytest.mark.heavy
@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_study_db_is_one_line_and_exit_2(tmp_path, damage):
    run_dir = tmp_path / "run"
    common = _common("damaged", run_dir)
    db = run_dir / "study.db"
    if damage == "garbage":
        run_dir.mkdir()
        db.write_bytes(b"this is not a database" * 100)
    else:
        assert run_cli([*FAST, *common, "sweep.n_trials=1"], tmp_path).returncode == 0
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3])
    out = run_cli([*FAST, *common, "sweep.n_trials=2"], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "is not a readable SQLite study" in line and "move it away" in line


@pytest.mark.heavy
def test_a_refused_command_leaves_nothing_behind(tmp_path):
    out = run_cli([*FAST, "sweep.study_name=../../etc/evil"], tmp_path)
    assert out.returncode == 2 and "cannot name a study" in out.stderr
    out = run_cli([*FAST, "sweep.n_trials=0"], tmp_path)
    assert out.returncode == 2
    assert list(tmp_path.iterdir()) == []  # not even runs/
    # A refused resume leaves the existing run directory as it was.
    run_dir = tmp_path / "run"
    assert run_cli([*FAST, *_common("kept", run_dir), "sweep.n_trials=1"], tmp_path).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    out = run_cli([*FAST, *_common("kept", run_dir), "sweep.n_trials=2", "data.seed=3"], tmp_path)
    assert out.returncode == 2
    assert "data.seed: 0 -> 3" in out.stderr and "sweep.resume=force" in out.stderr
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before
    history = (run_dir / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and "sweep.n_trials=1" in json.loads(history[0])["overrides"]


@pytest.mark.slow  # three CLI runs
def test_each_invocation_is_appended_to_the_history(tmp_path):
    run_dir = tmp_path / "run"
    for n in (1, 2):
        out = run_cli([*FAST, *_common("hist", run_dir), f"sweep.n_trials={n}"], tmp_path)
        assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [[o for o in x["overrides"] if o.startswith("sweep.n_trials")] for x in lines] == [
        ["sweep.n_trials=1"],
        ["sweep.n_trials=2"],
    ]
    assert all(x["pid"] and x["time"] for x in lines)
    assert (run_dir / ".hydra" / "config.yaml").exists() and (run_dir / "automl.log").exists()


@pytest.mark.slow  # a changed file under one name is refused in the default run
def test_two_data_files_get_their_own_study(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    for stem in ("one", "two"):
        rows = ["a,b,label"] + [f"{rng.normal()},{rng.normal()},{i % 2}" for i in range(60)]
        (tmp_path / f"{stem}.csv").write_text("\n".join(rows) + "\n")
    for stem in ("one", "two"):
        out = run_cli(["model=forest", "sweep.live=false", "space.n_estimators=20",
                       "data=csv", f"data.path={stem}.csv", "data.target=label",
                       "sweep.n_trials=1"], tmp_path)  # fmt: skip
        assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "forest-csv-one",
        "forest-csv-two",
    ]


@pytest.mark.heavy
def test_callbacks_in_a_recipe_are_refused_unless_allowed(tmp_path):
    recipes = tmp_path / "mine" / "recipe"
    recipes.mkdir(parents=True)
    marker = tmp_path / "marker"
    (recipes / "evil.yaml").write_text(
        "# @package _global_\nhydra:\n  callbacks:\n    touch:\n"
        f"      _target_: pathlib.Path.touch\n      self: {marker}\n"
    )
    args = ["--config-dir", str(tmp_path / "mine"), *FAST, "+recipe=evil", "sweep.n_trials=1"]
    out = run_cli(args, tmp_path)
    assert out.returncode == 2 and "hydra.callbacks (touch)" in out.stderr, out.stderr
    assert "AUTOML_ALLOW_HYDRA_CALLBACKS=1" in out.stderr
    assert not marker.exists() and not (tmp_path / "runs").exists()
    # The user who trusts the recipe opts in; Hydra then runs the callback.
    out = run_cli(args, tmp_path, env={"AUTOML_ALLOW_HYDRA_CALLBACKS": "1"})
    assert marker.exists(), out.stderr


@pytest.mark.slow
def test_a_database_restart_mid_study_is_survived(tmp_path):
    from postgres import postgres_bin, postgres_server

    bindir = postgres_bin()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found")
    with postgres_server(bindir) as server:
        run_dir, name = tmp_path / "run", "restart"
        common = _common(name, run_dir, server.url)
        proc = start_cli(["model=forest", "sweep.live=false", "space.n_estimators=400",
                          "sweep.n_trials=6", *common], tmp_path)  # fmt: skip
        _wait_running(name, run_dir, 1, server.url)
        server.restart()
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        trials = _study(name, run_dir, server.url).get_trials()
        counted = [t for t in trials if t.state != TrialState.FAIL or t.user_attrs.get("counts")]
        assert len(counted) == 6 and not [t for t in trials if t.state == TrialState.RUNNING]
        # A trial cut off by the restart is re-run with its parameters, not counted.
        for failed in (t for t in trials if t.state == TrialState.FAIL):
            assert failed.user_attrs["failure"] == "storage"
            assert any(r.user_attrs.get("retry_of") == failed.number for r in trials)


@pytest.mark.heavy
def test_kill_9_is_retried_with_the_same_parameters(tmp_path):
    run_dir, name = tmp_path / "run", "killed"
    common = _common(name, run_dir)
    proc = start_cli([*SLOW, *common, "sweep.n_trials=2"], tmp_path)
    _wait_running(name, run_dir, 0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    lost_params = _study(name, run_dir).get_trials()[0].params
    again = run_cli([*FAST, *common, "sweep.n_trials=2", "sweep.resume=force"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"resuming study '{name}'" not in again.stdout  # nothing counted yet: a fresh start
    lost, retry, new = _study(name, run_dir).get_trials()
    assert lost.state == TrialState.FAIL and lost.user_attrs["failure"] == "lost"
    assert lost.user_attrs["counts"] is False
    assert retry.user_attrs["retry_of"] == 0 and retry.params == lost_params
    assert retry.state == new.state == TrialState.COMPLETE


@pytest.mark.heavy
def test_a_changed_data_file_under_the_same_name_is_refused(tmp_path):
    import numpy as np

    def table(seed: int) -> None:
        rng = np.random.default_rng(seed)
        rows = ["a,b,label"] + [f"{rng.normal()},{rng.normal()},{i % 2}" for i in range(60)]
        (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")

    args = ["model=forest", "sweep.live=false", "space.n_estimators=20", "data=csv",
            "data.path=data.csv", "data.target=label"]  # fmt: skip
    table(0)
    assert run_cli([*args, "sweep.n_trials=1"], tmp_path).returncode == 0
    table(1)  # another table written over the file: the same name, other rows
    out = run_cli([*args, "sweep.n_trials=2"], tmp_path)
    assert out.returncode == 2
    assert "data (content):" in out.stderr and "sweep.study_name=NEW_NAME" in out.stderr
    assert len(_study("forest-csv-data", tmp_path / "runs" / "forest-csv-data").get_trials()) == 1
