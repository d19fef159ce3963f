"""Per-trial logs on real training: metrics.csv rows per epoch / report, TensorBoard events."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from automl.backends.trial_log import MetricsCSV, check_logger, csv_report, trial_logging
from automl.core.errors import TrialPruned, UserError
from automl.study import train
from automl.study.config import TrainerConfig


@pytest.fixture(scope="module")
def digits():
    from automl.core.registry import discover_data, discover_models
    from automl.data import load_dataset

    data = discover_data().get("digits")
    return discover_models().get("mlp"), load_dataset(data, data.config())


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_pruned_lightning_trial_keeps_one_row_per_epoch_it_ran(tmp_path, digits):
    import pandas as pd

    plugin, dataset = digits
    callbacks, logger = trial_logging("csv", tmp_path / "alone", {"lr": 0.001})
    assert logger is False and len(callbacks) == 1
    reported = []

    def report(step, value):
        reported.append((step, value))
        return step == 2  # the study prunes it after its third epoch

    cfg = plugin.config()
    with pytest.raises(TrialPruned):
        # A trial's directory: the Lightning backend writes its metrics.csv there.
        train.fit(
            plugin,
            cfg,
            dataset,
            TrainerConfig(max_epochs=6, accelerator="cpu"),
            report=report,
            workdir=tmp_path,
        )
    frame = pd.read_csv(tmp_path / "metrics.csv")
    assert list(frame.columns[:2]) == ["step", "train_loss"]
    assert list(frame.columns[-2:]) == ["lr", "elapsed_s"]
    assert {"val_acc", "val_loss", "val_f1"} <= set(frame.columns)
    assert frame["step"].tolist() == [0, 1, 2]
    assert frame["val_acc"].tolist() == pytest.approx([v for _, v in reported])
    assert (frame["train_loss"] > 0).all() and frame["train_loss"].iloc[-1] < frame[
        "train_loss"
    ].iloc[0]
    assert frame["lr"].tolist() == pytest.approx([cfg.lr] * 3)
    assert frame["elapsed_s"].is_monotonic_increasing


def test_estimator_reports_become_rows(tmp_path, digits):
    from automl.core.registry import discover_models

    _, dataset = digits
    plugin = discover_models().get("xgboost")
    cfg = plugin.config()
    cfg.n_estimators, cfg.report_every = 12, 4
    reported = []
    report = csv_report(
        lambda s, v: reported.append(v) and False, tmp_path / "metrics.csv", "val_acc"
    )
    train.fit(plugin, cfg, dataset, TrainerConfig(), report=report)
    rows = _rows(tmp_path / "metrics.csv")
    assert len(rows) == len(reported) > 1
    assert [float(r["val_acc"]) for r in rows] == pytest.approx(reported)
    assert list(rows[0]) == ["step", "val_acc", "elapsed_s"]


def test_a_metric_that_appears_late_widens_the_file(tmp_path):
    log = MetricsCSV(tmp_path / "m.csv")
    log.write(0, {"val_acc": 0.5})
    log.write(1, {"val_acc": 0.6, "train_loss": 1.5, "lr": 0.1})
    rows = _rows(tmp_path / "m.csv")
    assert list(rows[0]) == ["step", "train_loss", "val_acc", "lr", "elapsed_s"]
    assert rows[0]["train_loss"] == "" and rows[1]["train_loss"] == "1.5"
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]


def test_tensorboard_logger_writes_hparams_and_epoch_scalars(tmp_path, digits):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    plugin, dataset = digits
    trainer = TrainerConfig(max_epochs=2, accelerator="cpu", logger="tensorboard")
    train.fit(plugin, plugin.config(), dataset, trainer, workdir=tmp_path)
    events = list(tmp_path.glob("events.out.tfevents.*"))
    assert events, sorted(p.name for p in tmp_path.iterdir())
    acc = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    scalars = set(acc.Tags()["scalars"])
    assert {"val_acc", "val_loss", "train_loss", "lr"} <= scalars
    assert len(acc.Scalars("train_loss")) == 2
    plugins = acc.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in plugins
    assert b"hidden" in plugins["_hparams_/session_start_info"]
    assert (tmp_path / "metrics.csv").exists()


def test_missing_tensorboard_is_one_line_naming_the_extra():
    code = (
        "import sys; sys.modules['tensorboard'] = None\n"
        "from automl.backends.trial_log import check_logger\n"
        "from automl.core.errors import UserError\n"
        "try:\n    check_logger('tensorboard')\nexcept UserError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == (
        "trainer.logger=tensorboard: TensorBoard is not installed; "
        "pip install 'automl[tensorboard]' (or use trainer.logger=csv)"
    )
    with pytest.raises(UserError, match="not one of csv, tensorboard, mlflow, wandb"):
        check_logger("comet")
    for tracker in ("mlflow", "wandb"):
        code = (
            f"import sys; sys.modules['{tracker}'] = None\n"
            "from automl.backends.trial_log import check_logger\n"
            "from automl.core.errors import UserError\n"
            f"try:\n    check_logger('{tracker}')\nexcept UserError as e:\n    print(e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert out.stdout.strip() == (
            f"trainer.logger={tracker}: {tracker} is not installed; pip install "
            f"'automl[{tracker}]' (or use trainer.logger=csv)"
        )


def test_the_callback_does_not_read_the_loss_per_step(tmp_path):
    """Reading a GPU tensor (item, float, cpu, bool) waits for the GPU: the callback only adds
    the step's loss to a tensor on the same device and reads it once, at the epoch's end."""
    import torch

    from automl.backends.trial_log import metrics_csv_callback

    reads = []

    class Watched(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in ("item", "__float__", "cpu", "__bool__", "tolist", "numpy"):
                reads.append(name)
            return super().__torch_function__(func, types, args, kwargs or {})

    callback = metrics_csv_callback(tmp_path / "metrics.csv")
    callback.on_train_epoch_start(None, None)
    for step in range(5):
        loss = torch.tensor(1.0 + step).as_subclass(Watched)
        callback.on_train_batch_end(None, None, {"loss": loss}, None, step)
    assert reads == [] and callback._count == 5
    assert float(callback._sum) == 15.0 and reads == ["__float__"]  # the one read per epoch
