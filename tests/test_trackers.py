"""`trainer.logger=mlflow` and `trainer.logger=wandb`: real studies through the command line,
their tracker runs read back with the trackers' own readers (MLflow's client on the local file
store; the W&B offline run files decoded with W&B's own record definitions)."""

from __future__ import annotations

import csv
import json
import os
import struct
from pathlib import Path

import pytest
import yaml
from helpers import run_cli

# Each test runs a study into a tracker: the heavy tier (.ci/run).
pytestmark = pytest.mark.heavy


@pytest.fixture(autouse=True)
def _defaults(monkeypatch):
    """Nothing may leave the machine, and the defaults are what these tests check."""
    for name in ("MLFLOW_TRACKING_URI", "WANDB_MODE", "WANDB_PROJECT", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)


def _need(module: str, extra: str) -> None:
    """Skip without the tracker's extra; fail in CI, which installs it (AUTOML_REQUIRE_EXTRAS)."""
    try:
        __import__(module)
    except ImportError:
        if os.environ.get("AUTOML_REQUIRE_EXTRAS"):
            why = f"{module} is not installed (pip install 'automl[{extra}]'); CI installs it"
            pytest.fail(why)
        pytest.skip(f"{module} is not installed: pip install 'automl[{extra}]'")


def _leaderboard(run_dir: Path) -> dict[int, dict[str, str]]:
    with open(run_dir / "leaderboard.csv", newline="") as f:
        return {int(r["number"]): r for r in csv.DictReader(f)}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_mlflow_runs_hold_params_epochs_states_and_the_best_export(tmp_path, monkeypatch):
    _need("mlflow", "mlflow")
    run_dir = tmp_path / "runs" / "xgb"
    out = run_cli(
        ["model=xgboost", "data=breast_cancer", "sweep.n_trials=4", "model.n_estimators=40",
         "trainer.logger=mlflow", "sweep.pruner=threshold", "+sweep.pruner_args.lower=0.9",
         f"hydra.run.dir={run_dir}", "sweep.live=false"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"file store {run_dir / 'mlruns'}" in out.stdout

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run_dir / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("xgboost-breast_cancer")
    runs = {
        int(r.data.tags["automl.trial"]): r for r in client.search_runs([experiment.experiment_id])
    }
    board = _leaderboard(run_dir)
    assert sorted(runs) == sorted(board) == [0, 1, 2, 3]
    states = {n: row["state"].lower() for n, row in board.items()}
    assert "pruned" in states.values() and "complete" in states.values()
    for number, listed in runs.items():
        run = client.get_run(listed.info.run_id)  # read back one by one, as a user would
        assert run.data.tags["automl.state"] == states[number]
        assert run.info.status == "FINISHED"
        params = {
            k.removeprefix("param_"): v for k, v in board[number].items() if k.startswith("param_")
        }
        assert params and {k: float(run.data.params[k]) for k in params} == pytest.approx(
            {k: float(v) for k, v in params.items()}
        )
        history = client.get_metric_history(run.info.run_id, "val_acc")
        rows = _csv_rows(run_dir / "trials" / f"{number:04d}" / "metrics.csv")
        assert [(m.step, m.value) for m in history] == [
            (int(r["step"]), pytest.approx(float(r["val_acc"]))) for r in rows
        ]
        if states[number] == "pruned":
            assert "pruned after step" in run.data.tags["automl.reason"]
        else:
            assert run.data.metrics["value"] == pytest.approx(float(board[number]["value"]))
    best = yaml.safe_load((run_dir / "best" / "config.yaml").read_text())["trial"]
    tagged = [
        n
        for n, r in runs.items()
        if client.get_run(r.info.run_id).data.tags.get("automl.best") == "true"
    ]
    assert tagged == [best]
    artifacts = {a.path for a in client.list_artifacts(runs[best].info.run_id, "best")}
    assert {f"best/{p.name}" for p in (run_dir / "best").iterdir()} == artifacts


def test_mlflow_records_a_failed_trial_with_its_reason(tmp_path, monkeypatch):
    _need("mlflow", "mlflow")
    run_dir = tmp_path / "runs" / "slow"
    out = run_cli(
        ["model=mlp", "data=digits", "sweep.n_trials=1", "trainer.max_epochs=500",
         "sweep.trial_timeout=1", "trainer.logger=mlflow", f"hydra.run.dir={run_dir}",
         "sweep.live=false"],
        tmp_path,
    )  # fmt: skip
    assert "timeout after 1 s" in out.stdout, out.stdout[-2000:] + out.stderr[-2000:]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run_dir / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("mlp-digits")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["automl.state"] == "failed"
    assert "timeout after 1 s" in run.data.tags["automl.reason"]


BLOCK = 32768


def wandb_records(path: Path) -> list:
    """The records of a W&B run file (a LevelDB-style log of W&B's protobuf ``Record``s)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    ident, magic, _ = struct.unpack("<4sHB", data[:7])
    assert (ident, magic) == (b":W&B", 0xBEE1), "not a W&B run file"
    pos, parts, records = 7, [], []
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (kind == 0 and length == 0):  # block padding
            pos += left
            continue
        parts.append(data[pos + 7 : pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = pb.Record()
            record.ParseFromString(b"".join(parts))
            records.append(record)
            parts = []
    return records


def _wandb_run(path: Path) -> dict:
    """What one offline run file says: run id, config, tags, history rows, summary, artifacts."""
    out: dict = {"config": {}, "tags": [], "history": [], "summary": {}, "artifacts": []}
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["id"], out["group"] = record.run.run_id, record.run.run_group
            out["tags"] = list(record.run.tags)
            out["config"].update(
                {i.key: json.loads(i.value_json) for i in record.run.config.update}
            )
        elif kind == "history":
            out["history"].append({"/".join(i.nested_key) or i.key: json.loads(i.value_json)
                                   for i in record.history.item})  # fmt: skip
        elif kind == "summary":
            out["summary"].update({"/".join(i.nested_key) or i.key: json.loads(i.value_json)
                                   for i in record.summary.update})  # fmt: skip
        elif kind == "artifact":
            out["artifacts"].append(record.artifact)
        elif kind == "exit":
            out["exit_code"] = record.exit.exit_code
    return out


def test_wandb_offline_runs_hold_params_epochs_states_and_the_best_export(tmp_path):
    _need("wandb", "wandb")
    run_dir = tmp_path / "runs" / "mlp"
    out = run_cli(
        ["model=mlp", "data=digits", "trainer=fast", "sweep.n_trials=2", "trainer.logger=wandb",
         f"hydra.run.dir={run_dir}", "sweep.live=false"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "offline" in out.stdout and "wandb sync" in out.stdout
    files = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 3  # two trials, and the best trial's run resumed to tag it
    runs = [_wandb_run(f) for f in files]
    board = _leaderboard(run_dir)
    trials = {r["config"]["automl.trial"]: r for r in runs if "automl.trial" in r["config"]}
    assert sorted(trials) == sorted(board) == [0, 1]
    for number, run in trials.items():
        assert run["group"] == "mlp-digits"
        params = {
            k.removeprefix("param_"): v for k, v in board[number].items() if k.startswith("param_")
        }
        assert {k: str(run["config"][k]) for k in params} == {
            k: str(type(run["config"][k])(v)) for k, v in params.items()
        }
        rows = _csv_rows(run_dir / "trials" / f"{number:04d}" / "metrics.csv")
        logged = [h for h in run["history"] if "val_acc" in h]
        assert [(h["epoch"], h["val_acc"]) for h in logged] == [
            (int(r["step"]), pytest.approx(float(r["val_acc"]))) for r in rows
        ]
        assert run["summary"]["state"] == "complete" and run["exit_code"] == 0
        assert run["summary"]["value"] == pytest.approx(float(board[number]["value"]))
    best = yaml.safe_load((run_dir / "best" / "config.yaml").read_text())["trial"]
    (resumed,) = [r for r in runs if r["artifacts"]]
    assert resumed["id"] == trials[best]["id"] and "best" in resumed["tags"]
    (artifact,) = resumed["artifacts"]
    assert artifact.type == "model" and artifact.name == "mlp-digits-best"
    stored = {entry.path for entry in artifact.manifest.contents}
    assert stored == {p.name for p in (run_dir / "best").iterdir()}


def test_an_unknown_logger_names_the_trackers(tmp_path):
    out = run_cli(["model=xgboost", "data=breast_cancer", "trainer.logger=comet"], tmp_path)
    assert out.returncode == 2
    assert "not one of csv, tensorboard, mlflow, wandb" in out.stderr


def test_the_tracker_libraries_load_only_for_a_study_that_uses_one():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import automl.tuning.study, automl.tuning.finish, automl.tuning.trackers\n"
        "import automl.backends.trial_log, automl.serving.batch_predict\n"
        "print('LOADED', sorted(m for m in ('mlflow', 'wandb') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LOADED []" in out.stdout
