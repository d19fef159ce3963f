"""optuna-dashboard (the `dashboard` extra) reads a finished automl study over real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest

from automl.core.records import TrialRecord
from automl.study import train
from automl.study.config import TrainerConfig


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    """A real tiny study: the MLP trained on breast_cancer, what automl stores on each trial
    written through TrialRecord (metrics also as separate attributes)."""
    from automl.core.registry import discover_data, discover_models
    from automl.data import load_dataset

    plugin = discover_models().get("mlp")
    data = discover_data().get("breast_cancer")
    dataset = load_dataset(data, data.config())
    path = tmp_path_factory.mktemp("dash") / "study.db"
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        study_name="mlp-breast_cancer", storage=f"sqlite:///{path}", direction="maximize"
    )

    def objective(trial: optuna.Trial) -> float:
        cfg = plugin.config()
        cfg.lr = trial.suggest_float("lr", 1e-3, 3e-2, log=True)
        cfg.hidden = trial.suggest_int("hidden", 16, 64, log=True)
        result = train.fit(
            plugin,
            cfg,
            dataset,
            TrainerConfig(max_epochs=2, accelerator="cpu"),
            report=lambda step, value: trial.report(value, step) or False,
        )
        record = TrialRecord(unit="epoch", epochs=result.epochs, metrics=result.metrics)
        for key, value in record.attrs().items():
            trial.set_user_attr(key, value)
        return result.value

    study.optimize(objective, n_trials=3)
    return path, study


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_dashboard_serves_the_study_and_its_sortable_metrics(finished_study):
    path, study = finished_study
    port = _free_port()
    command = Path(sys.executable).parent / "optuna-dashboard"
    server = subprocess.Popen(
        [str(command), f"sqlite:///{path}", "--host", "127.0.0.1", "--port", str(port), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        studies = None
        while studies is None:
            try:
                studies = _get(f"{base}/api/studies")
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "optuna-dashboard did not answer in 60 s"
                time.sleep(0.2)  # the server is starting; poll again
        (summary,) = studies["study_summaries"]
        assert summary["study_name"] == "mlp-breast_cancer"
        detail = _get(f"{base}/api/studies/{summary['study_id']}")
        trials = detail["trials"]
        assert len(trials) == 3
        for served, stored in zip(trials, study.trials, strict=True):
            attrs = {a["key"]: a["value"] for a in served["user_attrs"]}
            assert float(attrs["val_acc"]) == pytest.approx(stored.user_attrs["val_acc"])
            assert float(attrs["val_loss"]) == pytest.approx(stored.user_attrs["val_loss"])
            assert served["values"] == [pytest.approx(stored.value)]
            assert len(served["intermediate_values"]) == 2
        sortable = {a["key"]: a["sortable"] for a in detail["union_user_attrs"]}
        assert sortable["val_acc"] is True and sortable["val_f1"] is True
        assert sortable["metrics"] is False  # the one-blob form cannot be sorted; hence both
    finally:
        server.terminate()
        server.wait(timeout=30)
