"""Per-trial overhead: one automl trial vs a plain PyTorch loop training the same CNN.

Both train the CNN plugin's default network on digits (same split, preprocessing, batch size,
optimizer, epochs) and evaluate the validation split after every epoch. Variants:

- ``plain``: a hand-written PyTorch loop over in-memory tensors (the baseline);
- ``automl``: ``automl.train.fit`` as a trial calls it (Lightning, per-epoch report callback,
  best weights kept in memory), reporting to a no-op function;
- ``automl_study``: the whole trial path: an Optuna study in a SQLite file, the objective,
  ``trial.report``/``should_prune`` written to storage every epoch, the weights file;
- ``lightning_defaults``: Lightning as its docs start you off (default Trainer, DataLoader);
- ``automl_csv`` (with ``--metrics-csv``): ``automl`` plus the per-trial ``metrics.csv``
  callback (``automl.trial_log``), reported also as a ratio to ``automl``.

Reported: median seconds over ``--repeats`` interleaved runs and the ratio to ``plain``,
measured in this run.

    python benchmarks/trial_overhead.py --epochs 20 --repeats 3
    python benchmarks/trial_overhead.py --metrics-csv --skip-defaults --skip-study
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--skip-defaults", action="store_true", help="skip the Lightning-defaults run")
    p.add_argument("--skip-study", action="store_true", help="skip the whole-study-path run")
    p.add_argument(
        "--metrics-csv",
        action="store_true",
        help="also run automl with the metrics.csv callback (automl_csv) and report its cost",
    )
    return p.parse_args(argv)


def setup(threads: int):
    import torch

    from automl.data import load_dataset
    from automl.registry import discover_data, discover_models

    if threads:
        torch.set_num_threads(threads)
    plugin = discover_models().get("cnn")
    data_plugin = discover_data().get("digits")
    dataset = load_dataset(data_plugin, data_plugin.config())
    return plugin, dataset


def plain_loop(plugin, dataset, epochs: int, seed: int) -> tuple[float, float]:
    """What a researcher writes by hand: tensors in memory, Adam, eval each epoch."""
    import torch
    from automl_plugins.cnn_model import make_net
    from torch import nn

    cfg = plugin.config()
    torch.manual_seed(seed)
    net = make_net(cfg, dataset.spec)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.as_tensor(dataset.train.x)
    y = torch.as_tensor(dataset.train.y)
    xv = torch.as_tensor(dataset.val.x)
    yv = torch.as_tensor(dataset.val.y)
    gen = torch.Generator().manual_seed(seed)
    best = 0.0
    start = time.perf_counter()
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            opt.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = (net(xv).argmax(1) == yv).float().mean().item()
        best = max(best, acc)
    return time.perf_counter() - start, best


def automl_trial(plugin, dataset, epochs: int, seed: int) -> tuple[float, float]:
    """One trial exactly as the study runs it (reporting every epoch, best weights kept)."""
    from automl import train
    from automl.config import TrainerConfig

    trainer = TrainerConfig(max_epochs=epochs, accelerator="cpu")
    reports = []
    start = time.perf_counter()
    result = train.fit(
        plugin,
        plugin.config(),
        dataset,
        trainer,
        report=lambda step, value: reports.append(value) and False,
        seed=seed,
    )
    elapsed = time.perf_counter() - start
    assert len(reports) == epochs
    return elapsed, result.value


def automl_csv_trial(plugin, dataset, epochs: int, seed: int) -> tuple[float, float]:
    """``automl_trial`` with the per-trial ``metrics.csv`` callback on its Trainer, as the
    Lightning backend wires it (one row per epoch: mean train loss, val metrics, lr)."""
    import tempfile

    from automl import train
    from automl.trial_log import METRICS_FILE, metrics_csv_callback

    real = train._trainer
    with tempfile.TemporaryDirectory(prefix="automl-bench-csv-") as directory:
        path = Path(directory) / METRICS_FILE

        def trainer(trainer_cfg, callbacks, max_epochs=None, validate=True):
            extra = [metrics_csv_callback(path)]
            return real(trainer_cfg, [*callbacks, *extra], max_epochs, validate)

        train._trainer = trainer
        try:
            result = automl_trial(plugin, dataset, epochs, seed)
        finally:
            train._trainer = real
        rows = path.read_text().count("\n") - 1
        assert rows == epochs, f"metrics.csv has {rows} rows for {epochs} epochs"
    return result


def csv_hook_seconds(plugin, dataset, epochs: int) -> float:
    """The callback's own work in one trial, timed directly: its per-batch hook for every
    training batch and its per-epoch row, with the trial's batch count and metrics (robust to
    the machine's load, unlike the difference of two whole trials)."""
    import tempfile
    from types import SimpleNamespace

    import torch

    from automl.trial_log import metrics_csv_callback

    batches = -(-len(dataset.train.y) // plugin.config().batch_size)
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    metrics = {f"val_{k}": torch.tensor(0.9) for k in ("acc", "f1", "precision", "recall")}
    metrics["val_loss"] = torch.tensor(0.1)
    with tempfile.TemporaryDirectory(prefix="automl-bench-csv-") as directory:
        callback = metrics_csv_callback(Path(directory) / "metrics.csv")
        trainer = SimpleNamespace(
            callback_metrics=metrics, optimizers=[optimizer], loggers=[], sanity_checking=False
        )
        losses = [{"loss": torch.tensor(0.5 + i / batches)} for i in range(batches)]
        start = time.perf_counter()
        for epoch in range(epochs):
            trainer.current_epoch, trainer.global_step = epoch, epoch * batches
            callback.on_train_epoch_start(trainer, None)
            for i, out in enumerate(losses):
                callback.on_train_batch_end(trainer, None, out, None, i)
            callback.on_validation_end(trainer, None)
            callback.on_train_epoch_end(trainer, None)
        return time.perf_counter() - start


def automl_study_trial(plugin, dataset, epochs: int, seed: int) -> tuple[float, float]:
    """One trial through the whole tuning path: an Optuna study in a SQLite file, the
    objective, per-epoch ``trial.report``/``should_prune`` writes and the weights file."""
    import tempfile
    import threading
    from pathlib import Path

    import optuna
    from hydra import compose, initialize_config_module
    from hydra.core.hydra_config import HydraConfig

    from automl.config import register_configs
    from automl.plan import make_plan
    from automl.registry import discover_data, discover_models
    from automl.tuning.objective import Objective
    from automl.tuning.study import open_study

    models, data = discover_models(), discover_data()
    register_configs(models, data)
    run_dir = Path(tempfile.mkdtemp(prefix="automl-bench-"))
    with initialize_config_module("automl.conf", version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "model=cnn",
                "data=digits",
                f"trainer.max_epochs={epochs}",
                "trainer.accelerator=cpu",
                f"trainer.seed={seed}",
                "sweep.study_name=overhead",
                "sweep.pruner=none",
            ],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    plan = make_plan(cfg, "cnn", "digits", models, data, run_dir)
    plan.space = {}  # the plugin's default config, as the other variants train
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = open_study(plan, "maximize")
    objective = Objective(plan, dataset, threading.Event())
    start = time.perf_counter()
    study.optimize(objective, n_trials=1)
    elapsed = time.perf_counter() - start
    return elapsed, study.best_value


def lightning_defaults(plugin, dataset, epochs: int, seed: int) -> tuple[float, float]:
    """Lightning as its docs start you off: default Trainer, DataLoader over a TensorDataset."""
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from automl.train import _quiet_lightning

    _quiet_lightning()
    pl.seed_everything(seed, verbose=False)
    module = __import__("automl_plugins.cnn_model", fromlist=["build"]).build(
        plugin.config(), dataset.spec
    )
    train_dl = DataLoader(
        TensorDataset(torch.as_tensor(dataset.train.x), torch.as_tensor(dataset.train.y)),
        batch_size=plugin.config().batch_size,
        shuffle=True,
    )
    val_dl = DataLoader(
        TensorDataset(torch.as_tensor(dataset.val.x), torch.as_tensor(dataset.val.y)),
        batch_size=plugin.config().batch_size,
    )
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        default_root_dir="/tmp/automl-bench-lightning",
    )
    start = time.perf_counter()
    trainer.fit(module, train_dl, val_dl)
    elapsed = time.perf_counter() - start
    return elapsed, float(trainer.callback_metrics["val_acc"])


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    plugin, dataset = setup(args.threads)
    runners = {"plain": plain_loop, "automl": automl_trial}
    if args.metrics_csv:
        runners["automl_csv"] = automl_csv_trial
    if not args.skip_study:
        runners["automl_study"] = automl_study_trial
    if not args.skip_defaults:
        runners["lightning_defaults"] = lightning_defaults
    # warm-up: first-call costs (imports, kernel selection) are not per-trial overhead
    for run in runners.values():
        run(plugin, dataset, 1, 0)
    times: dict[str, list[float]] = {k: [] for k in runners}
    accs: dict[str, list[float]] = {k: [] for k in runners}
    for rep in range(args.repeats):
        for name, run in runners.items():  # interleaved so drift hits every variant alike
            seconds, acc = run(plugin, dataset, args.epochs, rep)
            times[name].append(seconds)
            accs[name].append(acc)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "epochs": args.epochs,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "median_s": med,
        "min_s": {k: min(v) for k, v in times.items()},
        "max_s": {k: max(v) for k, v in times.items()},
        "best_val_acc": {k: statistics.median(v) for k, v in accs.items()},
        "ratio_vs_plain": {k: med[k] / med["plain"] for k in med},
    }
    print(
        f"CNN on digits, {args.epochs} epochs, {args.repeats} repeats, "
        f"{result['threads']} torch threads"
    )
    print(f"{'variant':<20}{'median s':>10}{'min s':>9}{'max s':>9}{'x plain':>9}{'val acc':>9}")
    for k in runners:
        print(
            f"{k:<20}{med[k]:>10.2f}{result['min_s'][k]:>9.2f}{result['max_s'][k]:>9.2f}"
            f"{result['ratio_vs_plain'][k]:>9.2f}{result['best_val_acc'][k]:>9.3f}"
        )
    if "automl_csv" in med:
        result["csv_vs_automl"] = med["automl_csv"] / med["automl"]
        result["csv_vs_automl_min"] = result["min_s"]["automl_csv"] / result["min_s"]["automl"]
        hook = statistics.median(csv_hook_seconds(plugin, dataset, args.epochs) for _ in range(5))
        result["csv_hook_s"] = hook
        result["csv_hook_share"] = hook / med["automl"]
        print(
            f"metrics.csv callback: automl_csv / automl = {result['csv_vs_automl']:.3f} "
            f"(medians), {result['csv_vs_automl_min']:.3f} (fastest runs); its hooks alone "
            f"{hook * 1000:.1f} ms per trial = {100 * result['csv_hook_share']:.2f}% of a trial"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
