"""Trials that resume where they stopped: a study killed (kill -9) mid-trial, run again, whose
re-run continues at the last checkpoint and ends with the weights of an uninterrupted run;
through the command line with real training, for the lean loop, Lightning's Trainer, XGBoost,
a forest and k folds; a checkpoint of another configuration or study refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from helpers import TESTS, make_dist, run_cli, start_cli

from automl.tuning.storage import make_storage

LEAN = [
    "model=mlp",
    "data=digits",
    "trainer.max_epochs=15",
    "trainer.num_threads=1",
    "sweep.n_trials=1",
    "sweep.checkpoint_every=1",
    "sweep.live=false",
    "sweep.study_name=ck",
]


def _study(run_dir: Path, name: str = "ck") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(None, run_dir))


def _meta(run_dir: Path, trial: int = 0, part: str = "") -> Path:
    return run_dir / "trials" / f"{trial:04d}" / "checkpoint" / part / "meta.json"


def _killed_at(args: list[str], run_dir: Path, cwd: Path, step: int, part: str = "") -> dict:
    """Run the study and kill -9 it once trial 0 has a checkpoint at ``step`` or later;
    returns the checkpoint it left (read after the kill: the last one written)."""
    proc = start_cli([*args, f"hydra.run.dir={run_dir}"], cwd)
    meta = _meta(run_dir, 0, part)
    deadline = time.monotonic() + 240
    while True:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"ended before its checkpoint at step {step}:\n{out}\n{err}")
        if meta.exists() and json.loads(meta.read_text())["step"] >= step:
            break
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    return json.loads(meta.read_text())


def _rerun(args: list[str], run_dir: Path, cwd: Path) -> optuna.trial.FrozenTrial:
    """Run the killed study again; returns the re-run of trial 0 (which must complete)."""
    done = run_cli([*args, f"hydra.run.dir={run_dir}"], cwd)
    assert done.returncode == 0, done.stderr
    lost, retry = _study(run_dir).get_trials()
    assert lost.state.name == "FAIL" and lost.user_attrs["failure"] == "lost"
    assert retry.state.name == "COMPLETE" and retry.user_attrs["retry_of"] == 0
    return retry


def _same_tensors(a: Path, b: Path) -> None:
    left = torch.load(a, map_location="cpu", weights_only=True)
    right = torch.load(b, map_location="cpu", weights_only=True)
    assert left.keys() == right.keys()
    for key in left:
        torch.testing.assert_close(left[key], right[key], rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The lean-loop study run without a kill."""
    cwd = tmp_path_factory.mktemp("whole")
    done = run_cli([*LEAN, f"hydra.run.dir={cwd / 'run'}"], cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "run"


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> tuple[Path, dict]:
    """The same study killed (SIGKILL) mid-trial, and the checkpoint it left."""
    cwd = tmp_path_factory.mktemp("killed")
    saved = _killed_at(LEAN, cwd / "run", cwd, step=2)
    return cwd / "run", saved


@pytest.mark.heavy
def test_kill_9_mid_trial_resumes_at_its_last_checkpoint_with_the_same_weights(
    tmp_path, uninterrupted, killed
):
    run_dir = tmp_path / "run"
    shutil.copytree(killed[0], run_dir)
    saved = killed[1]
    assert saved["kind"] == "lean" and saved["step"] >= 2
    retry = _rerun(LEAN, run_dir, tmp_path)
    # It resumed after the last checkpoint's epoch and trained the rest: 15 epochs in all.
    assert retry.user_attrs["resumed"] == saved["step"] + 1
    assert (
        f"resumed from the checkpoint of trial #0: {saved['step'] + 1}"
        in (retry.user_attrs["note"])
    )
    assert retry.user_attrs["epochs"] == 15
    whole = _study(uninterrupted).get_trials()[0]
    # The pruner saw each epoch's value once, the same values as without the kill.
    assert retry.intermediate_values == whole.intermediate_values
    assert sorted(retry.intermediate_values) == list(range(15))
    assert retry.value == whole.value
    rows = (run_dir / "trials" / "0001" / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(15))
    # The same weights as the uninterrupted run's.
    _same_tensors(uninterrupted / "trials/0000/model.pt", run_dir / "trials/0001/model.pt")
    board = json.loads((run_dir / "leaderboard.json").read_text())["trials"]
    (row,) = [r for r in board if r["number"] == 1]
    assert row["epochs"] == 15 and "resumed" in row["note"]
    # A trial that ended for good keeps no checkpoint, nor does the one it re-ran.
    assert not (run_dir / "trials/0001/checkpoint").exists()
    assert not (run_dir / "trials/0000/checkpoint").exists()


@pytest.mark.parametrize(
    "change, note",
    [
        (
            ["trainer.max_epochs=16", "sweep.resume=force"],
            "the checkpoint of trial #0 was refused (it belongs to another version of the study",
        ),
        (["sweep.checkpoint_every=0"], "sweep.checkpoint_every=0: the checkpoint of trial #0"),
    ],
    ids=["changed-study", "checkpoints-off"],
)
@pytest.mark.heavy
def test_a_checkpoint_that_may_not_be_used_is_left_and_the_trial_starts_over(
    tmp_path, killed, change, note
):
    run_dir = tmp_path / "run"
    shutil.copytree(killed[0], run_dir)
    retry = _rerun([*LEAN, *change], run_dir, tmp_path)
    assert note in retry.user_attrs["note"] and "started over" in retry.user_attrs["note"]
    assert "resumed" not in retry.user_attrs
    epochs = retry.user_attrs["epochs"]
    rows = (run_dir / "trials" / "0001" / "metrics.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(epochs))


def test_a_bad_checkpoint_every_is_one_line_and_exit_2(tmp_path):
    done = run_cli([*LEAN, "sweep.checkpoint_every=sometimes"], tmp_path)
    assert done.returncode == 2
    assert "sweep.checkpoint_every='sometimes' is not one of auto" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def fakes(tmp_path_factory) -> Path:
    """An installed-looking distribution with the fake ``good`` model, a SupervisedModule
    subclass with its own ``training_step``: it trains under Lightning's Trainer."""
    site = tmp_path_factory.mktemp("site")
    dist = make_dist(site, "checkpoint_fakes", "0.1")
    (dist._path / "entry_points.txt").write_text("[automl.models]\ngood = fake_plugins:GOOD\n")
    return site


@pytest.mark.heavy
def test_under_lightnings_trainer_a_killed_trial_resumes_with_the_same_weights(tmp_path, fakes):
    env = {"PYTHONPATH": f"{TESTS}{os.pathsep}{fakes}"}
    args = [*LEAN, "model=good", "model.hidden=64", "trainer.max_epochs=10"]

    def cli(extra: list[str], background: bool = False):
        starter = start_cli if background else run_cli
        return starter([*args, *extra], tmp_path, env=env)

    whole = cli([f"hydra.run.dir={tmp_path / 'whole'}"])
    assert whole.returncode == 0, whole.stderr
    run_dir = tmp_path / "run"
    proc = cli([f"hydra.run.dir={run_dir}"], background=True)
    meta = _meta(run_dir)
    deadline = time.monotonic() + 240
    while not (meta.exists() and json.loads(meta.read_text())["step"] >= 2):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    saved = json.loads(meta.read_text())
    assert saved["kind"] == "trainer"  # Lightning's own checkpoint, read weights-only
    assert (meta.parent / saved["state"] / "trainer.ckpt").is_file()
    again = cli([f"hydra.run.dir={run_dir}"])
    assert again.returncode == 0, again.stderr
    lost, retry = _study(run_dir).get_trials()
    assert retry.user_attrs["resumed"] == saved["step"] + 1
    assert retry.user_attrs["epochs"] == 10
    first = _study(tmp_path / "whole").get_trials()[0]
    assert retry.intermediate_values == first.intermediate_values
    _same_tensors(tmp_path / "whole/trials/0000/model.pt", run_dir / "trials/0001/model.pt")


@pytest.mark.slow
def test_xgboost_resumes_from_its_booster_with_the_same_trees(tmp_path):
    import xgboost as xgb

    # One report (and checkpoint) per round, no early stopping: a few hundred rounds of
    # writes to the study last long enough for the kill to land mid-trial.
    args = [*LEAN, "model=xgboost", "model.n_estimators=300", "model.report_every=1",
            "model.early_stopping_rounds=0", "model.max_depth=3", "model.n_jobs=1"]  # fmt: skip
    whole = run_cli([*args, f"hydra.run.dir={tmp_path / 'whole'}"], tmp_path)
    assert whole.returncode == 0, whole.stderr
    run_dir = tmp_path / "run"
    saved = _killed_at(args, run_dir, tmp_path, step=20)
    assert saved["kind"] == "estimator"
    retry = _rerun(args, run_dir, tmp_path)
    assert retry.user_attrs["resumed"] == saved["step"] + 1
    assert retry.user_attrs["epochs"] == 300
    first = _study(tmp_path / "whole").get_trials()[0]
    assert retry.intermediate_values == first.intermediate_values

    def trees(path: Path) -> list[str]:
        booster = xgb.Booster()
        booster.load_model(str(path))
        return booster.get_dump(dump_format="json")

    assert trees(run_dir / "trials/0001/model.json") == trees(
        tmp_path / "whole/trials/0000/model.json"
    )


@pytest.mark.slow
def test_a_forest_resumes_at_its_last_stage_with_the_same_trees(tmp_path):
    import skops.io

    args = [*LEAN, "model=forest", "model.n_estimators=400", "model.stages=40",
            "model.n_jobs=1"]  # fmt: skip
    whole = run_cli([*args, f"hydra.run.dir={tmp_path / 'whole'}"], tmp_path)
    assert whole.returncode == 0, whole.stderr
    run_dir = tmp_path / "run"
    saved = _killed_at(args, run_dir, tmp_path, step=3)
    retry = _rerun(args, run_dir, tmp_path)
    assert retry.user_attrs["resumed"] == saved["step"] + 1
    assert retry.user_attrs["epochs"] == 40

    def thresholds(path: Path) -> list[np.ndarray]:
        trusted = skops.io.get_untrusted_types(file=path)
        forest = skops.io.load(path, trusted=trusted)
        return [tree.tree_.threshold for tree in forest.estimators_]

    left = thresholds(run_dir / "trials/0001/model.skops")
    right = thresholds(tmp_path / "whole/trials/0000/model.skops")
    assert len(left) == len(right) == 400
    assert all(np.array_equal(a, b) for a, b in zip(left, right, strict=True))


@pytest.mark.slow
def test_k_folds_resume_after_the_folds_done_and_inside_the_running_one(tmp_path):
    args = [*LEAN, "data.folds=3", "trainer.max_epochs=8"]
    whole = run_cli([*args, f"hydra.run.dir={tmp_path / 'whole'}"], tmp_path)
    assert whole.returncode == 0, whole.stderr
    run_dir = tmp_path / "run"
    # Killed in fold 1, after its third epoch's checkpoint (fold 0 done and kept).
    inner = _killed_at(args, run_dir, tmp_path, step=2, part="fold1")
    assert json.loads(_meta(run_dir).read_text())["kind"] == "folds"
    retry = _rerun(args, run_dir, tmp_path)
    assert retry.user_attrs["resumed"] == 1  # one fold done before the kill
    assert inner["kind"] == "lean"
    first = _study(tmp_path / "whole").get_trials()[0]
    assert retry.intermediate_values == first.intermediate_values
    assert retry.value == first.value
    assert retry.user_attrs["epochs"] == first.user_attrs["epochs"] == 3  # its length: 3 folds
    _same_tensors(tmp_path / "whole/trials/0000/model.pt", run_dir / "trials/0001/model.pt")
