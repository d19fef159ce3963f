"""The command line as a user runs it, in subprocesses (stdout is not a terminal here)."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import time

import optuna
import pytest
from helpers import main_with_imports, run_cli, start_cli


@pytest.mark.parametrize("command", ["plugins", "--help"])
def test_listing_and_help_do_not_import_heavy_libraries(tmp_path, command):
    heavy = ("torch", "pytorch_lightning", "xgboost", "sklearn", "optuna", "plotly",
             "matplotlib", "pandas")  # fmt: skip
    out = main_with_imports([command], heavy, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    for name in ("cnn", "mlp", "digits", "breast_cancer"):
        assert name in out.stdout
    if command == "plugins":
        assert "automl 0.1.0" in out.stdout and "acc↑ rmse↓" in out.stdout


def test_plugins_fit_100_columns_without_cutting_names():
    from rich.console import Console

    from automl.cli.argv import print_plugins
    from automl.core.registry import discover_data, discover_models

    models, data = discover_models(), discover_data()
    console = Console(record=True, width=100, file=io.StringIO())
    assert print_plugins(models, data, console) == 0
    lines = console.export_text().splitlines()
    assert all(len(line) <= 100 for line in lines) and "…" not in "\n".join(lines)
    starts = {line.split()[0] for line in lines if line.strip()}
    assert set(models.names()) <= starts and set(data.names()) <= starts
    packages = {models.info(n).package for n in models.names()}
    for package in packages:  # a package name is whole on one line (its version may wrap)
        assert any(package in line for line in lines), package


def test_help_and_cfg_job_work(tmp_path):
    help_out = run_cli(["--help"], tmp_path)
    assert help_out.returncode == 0
    assert "python -m automl model=cnn sweep=optuna" in help_out.stdout
    groups = next(line for line in help_out.stdout.splitlines() if line.startswith("model: "))
    assert {"cnn", "mlp"} <= set(groups.removeprefix("model: ").split(", "))
    cfg = run_cli(["model=mlp", "--cfg", "job"], tmp_path)
    assert cfg.returncode == 0
    assert "hidden: 128" in cfg.stdout and "val_fraction" in cfg.stdout
    # Hydra's printout names no group: the first line says which model and data it composed.
    first = cfg.stdout.splitlines()[0]
    assert first == "# composed: model=mlp data=breast_cancer sweep=optuna trainer=default"
    assert not (tmp_path / "runs").exists()  # printing the config runs nothing


def test_unknown_model_is_a_short_error_listing_choices(tmp_path):
    out = run_cli(["model=transformerx"], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("automl: error: unknown model 'transformerx'; available: cnn, ")
    data = run_cli(["data=mnist"], tmp_path)
    assert data.returncode == 2 and "unknown data set 'mnist'; available: " in data.stderr
    assert "digits" in data.stderr and "Traceback" not in data.stderr


def test_invalid_space_is_one_line_exit_2_and_creates_no_study(tmp_path):
    out = run_cli(["model=cnn", "space.lr.low=1.0", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "automl: error: space.lr: low (1.0) > high (0.03); swap them or fix the value with "
        "space.lr=VALUE"
    )
    assert not (tmp_path / "run" / "study.db").exists()


def test_unknown_space_field_lists_valid_ones(tmp_path):
    out = run_cli(
        ["model=mlp", "+space.depth={type:int,low:1,high:3}", f"hydra.run.dir={tmp_path / 'r'}"],
        tmp_path,
    )
    assert out.returncode == 2
    assert "no field 'depth'; valid fields:" in out.stderr and "hidden" in out.stderr


def _trials(run_dir, name):
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{run_dir / 'study.db'}")
    return study.get_trials()


@pytest.mark.heavy
def test_cnn_study_end_to_end_then_resume(tmp_path):
    run_dir = tmp_path / "run"
    args = ["model=cnn", "trainer.max_epochs=2", f"hydra.run.dir={run_dir}"]
    out = run_cli([*args, "sweep.n_trials=3"], tmp_path)
    assert out.returncode == 0, out.stderr
    # one plain line per finished trial, no ANSI codes in a log
    lines = [line for line in out.stdout.splitlines() if line.startswith("[trial")]
    assert len(lines) == 3 and "\x1b[" not in out.stdout
    assert "test_acc=" in out.stdout and "automl summary" in out.stdout
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert board["study"] == "cnn-digits" and board["metric"] == "val_acc"
    assert sorted(r["number"] for r in board["trials"]) == [0, 1, 2]
    assert all(r["state"] in ("COMPLETE", "PRUNED") for r in board["trials"])
    assert (run_dir / "leaderboard.csv").read_text().startswith("rank,number,state,value")
    assert (run_dir / ".hydra" / "config.yaml").exists()
    for number in range(3):
        assert (run_dir / "trials" / f"{number:04d}" / "config.yaml").exists()
    assert (run_dir / "best" / "model.pt").exists()

    again = run_cli([*args, "sweep.n_trials=5"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "resuming study 'cnn-digits': 3 trials done, 2 to go" in again.stdout
    trials = _trials(run_dir, "cnn-digits")
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert all(t.state.is_finished() for t in trials)


@pytest.mark.heavy
def test_mlp_on_tabular_and_single_run(tmp_path):
    out = run_cli(
        [
            "model=mlp",
            "sweep.n_trials=2",
            "trainer.max_epochs=3",
            f"hydra.run.dir={tmp_path / 's'}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "s" / "leaderboard.json").read_text())["data"] == "breast_cancer"
    once = run_cli(
        ["model=cnn", "sweep=none", "trainer.max_epochs=2", f"hydra.run.dir={tmp_path / 'o'}"],
        tmp_path,
    )
    assert once.returncode == 0, once.stderr
    assert "test:" in once.stdout and "test_acc=" in once.stdout
    metrics = json.loads((tmp_path / "o" / "single" / "metrics.json").read_text())
    assert 0.0 < metrics["test"]["test_acc"] <= 1.0
    assert not (tmp_path / "o" / "study.db").exists()


@pytest.mark.slow  # Ctrl-C mid-trial is in the default run through tests/test_faults.py
def test_ctrl_c_leaves_storage_consistent_and_the_study_resumes(tmp_path):
    run_dir = tmp_path / "run"
    args = ["model=cnn", "trainer.max_epochs=200", "sweep.pruner=none", f"hydra.run.dir={run_dir}"]
    proc = start_cli([*args, "sweep.n_trials=50"], tmp_path)
    db = run_dir / "study.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until a trial is training
        if db.exists():
            with sqlite3.connect(db) as con:
                try:
                    running = con.execute("select count(*) from trials where state='RUNNING'")
                    if running.fetchone()[0]:
                        break
                except sqlite3.OperationalError:
                    pass
        time.sleep(0.5)
    time.sleep(3)  # well inside Lightning's fit loop
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout
    trials = _trials(run_dir, "cnn-digits")
    *done, stopped, retry = trials
    assert all(t.state.is_finished() for t in [*done, stopped])
    assert stopped.state.name == "FAIL"
    assert stopped.user_attrs["error"] == "interrupted (Ctrl-C)"
    assert retry.state.name == "WAITING" and retry.user_attrs["retry_of"] == stopped.number

    resumed = run_cli(
        [
            "model=cnn",
            "trainer.max_epochs=1",
            "sweep.resume=force",  # trainer.max_epochs is part of the study's identity
            f"hydra.run.dir={run_dir}",
            f"sweep.n_trials={len(done) + 1}",
        ],
        tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr
    after = _trials(run_dir, "cnn-digits")
    assert len(after) == len(trials)  # the retry ran; no new trial was needed
    assert after[-1].state.name == "COMPLETE" and after[-1].params == stopped.params
