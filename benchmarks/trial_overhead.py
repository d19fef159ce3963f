"""Per-trial overhead: one automl trial vs a plain PyTorch loop training the same CNN.

Every variant trains the CNN plugin's default network on digits (same split, preprocessing,
batch size, optimizer, seed and epochs) and evaluates the validation split after every epoch:

- ``plain``: a hand-written PyTorch loop over in-memory tensors (the baseline);
- ``automl``: ``automl.study.train.fit`` without a directory (Lightning backend, per-epoch report
  to a no-op function, best weights kept in memory);
- ``automl_files``: ``automl.study.train.fit`` with a trial directory, as a study trial writes it
  (``metrics.csv`` row per epoch, the weights file at the end);
- ``automl_study``: the whole study path of one trial: a ``Run`` prepared from a composed plan
  (space emptied: the plugin's default config), the SQLite study opened with
  ``automl.tuning.study.open_study``, and ``TrialRunner.run_trial`` timed on one trial (its
  config file, storage writes per report under the signal-safe section, the heartbeat thread,
  ``metrics.csv``, the weights file, the trial's record), with ``--pruner`` (``none`` by
  default, as the issue's baseline was measured; ``median``, the study default, also reads
  the storage in every epoch's ``should_prune``);
- ``lightning_defaults``: Lightning as its docs start you off (default Trainer, DataLoader);
- ``fabric``: the lean loop's steps (``automl.backends.lightning_loop``), the per-epoch watch
  and the same batches, with Lightning Fabric owning the device and the precision
  (``Fabric.setup``, ``fabric.backward``): what automl's loop would cost written on Fabric.

Variants run interleaved (drift and other jobs hit every variant alike) after one untimed
1-epoch warm-up each. Reported: median, min and max seconds over ``--repeats``, the ratio of
medians (and of the fastest runs) to ``plain`` measured in the same run, and each variant's
best validation accuracy (the same seed trains the same trajectory in ``plain``, ``automl*``).

    python benchmarks/trial_overhead.py --epochs 20 --repeats 7 --threads 1
    python benchmarks/trial_overhead.py --variants automl_study --pruner median
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

VARIANTS = ("plain", "automl", "automl_files", "automl_study", "lightning_defaults", "fabric")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated subset of {', '.join(VARIANTS)} (plain is always run)",
    )
    p.add_argument(
        "--pruner",
        default="none",
        help="sweep.pruner of automl_study (none, as the issue's baseline was measured; median "
        "is the study default: its should_prune reads the storage every epoch)",
    )
    p.add_argument("--skip-defaults", action="store_true", help="skip lightning_defaults")
    p.add_argument("--skip-study", action="store_true", help="skip automl_study")
    args = p.parse_args(argv)
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown:
        p.error(f"--variants: unknown {', '.join(unknown)}; valid: {', '.join(VARIANTS)}")
    skipped = {"lightning_defaults"} if args.skip_defaults else set()
    if args.skip_study:
        skipped.add("automl_study")
    args.variants = [v for v in VARIANTS if (v == "plain" or v in chosen) and v not in skipped]
    return args


class Clock:
    """Wall-clock and process CPU seconds since creation."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def setup(threads: int):
    import torch

    from automl.core.registry import discover_data, discover_models
    from automl.data import load_dataset

    if threads:
        torch.set_num_threads(threads)
    plugin = discover_models().get("cnn")
    data_plugin = discover_data().get("digits")
    dataset = load_dataset(data_plugin, data_plugin.config())
    return plugin, dataset


def plain_loop(plugin, dataset, epochs: int, seed: int) -> tuple[float, float, float]:
    """What a researcher writes by hand: tensors in memory, Adam, eval each epoch."""
    import torch
    from automl_plugins.cnn_model import make_net
    from torch import nn

    cfg = plugin.config()
    torch.manual_seed(seed)
    net = make_net(cfg, dataset.spec)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.as_tensor(dataset.train.x, dtype=torch.float32)
    y = torch.as_tensor(dataset.train.y)
    xv = torch.as_tensor(dataset.val.x, dtype=torch.float32)
    yv = torch.as_tensor(dataset.val.y)
    gen = torch.Generator().manual_seed(seed)
    best = 0.0
    clock = Clock()
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
    return (*clock.read(), best)


def _fit(plugin, dataset, epochs: int, seed: int, workdir) -> tuple[float, float, float]:
    from automl.study import train
    from automl.study.config import TrainerConfig

    trainer = TrainerConfig(max_epochs=epochs, accelerator="cpu")
    reports = []
    clock = Clock()
    result = train.fit(
        plugin,
        plugin.config(),
        dataset,
        trainer,
        report=lambda step, value: reports.append(value) and False,
        workdir=workdir,
        seed=seed,
    )
    wall, cpu = clock.read()
    assert len(reports) == epochs, f"{len(reports)} reports for {epochs} epochs"
    return wall, cpu, result.value


def automl_trial(plugin, dataset, epochs: int, seed: int) -> tuple[float, float, float]:
    """``train.fit`` as a library call: reports every epoch, best weights kept in memory."""
    return _fit(plugin, dataset, epochs, seed, None)


def automl_files_trial(plugin, dataset, epochs: int, seed: int) -> tuple[float, float, float]:
    """``train.fit`` into a trial directory: ``metrics.csv`` per epoch and the weights file."""
    from automl.backends.lightning import MODEL_FILE
    from automl.backends.trial_log import METRICS_FILE

    with tempfile.TemporaryDirectory(prefix="automl-bench-files-") as directory:
        result = _fit(plugin, dataset, epochs, seed, directory)
        rows = (Path(directory) / METRICS_FILE).read_text().count("\n") - 1
        assert rows == epochs, f"metrics.csv has {rows} rows for {epochs} epochs"
        assert (Path(directory) / MODEL_FILE).is_file()
    return result


def _study_plan(epochs: int, seed: int, run_dir: Path, pruner: str = "none"):
    """The plan ``python -m automl model=cnn data=digits`` makes, the space emptied."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from automl.core.registry import discover_data, discover_models
    from automl.study.config import register_configs
    from automl.study.plan import make_plan

    models, data = discover_models(), discover_data()
    register_configs(models, data)
    GlobalHydra.instance().clear()
    with initialize_config_module("automl.conf", version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "model=cnn",
                "data=digits",
                f"trainer.max_epochs={epochs}",
                "trainer.accelerator=cpu",
                f"trainer.seed={seed}",  # trial 0 trains with trainer.seed + 0
                "sweep.study_name=overhead",
                f"sweep.pruner={pruner}",
                "sweep.live=false",
                "sweep.report=false",
            ],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    plan = make_plan(cfg, "cnn", "digits", models, data, run_dir)
    # The plugin's default config, as the other variants train.
    plan = dataclasses.replace(plan, space={})
    return plan


def automl_study_trial(
    plugin, dataset, epochs: int, seed: int, pruner: str = "none"
) -> tuple[float, float, float]:
    """One trial of an SQLite study through ``TrialRunner.run_trial`` (the study loop's call)."""
    import optuna
    from optuna.trial import TrialState

    from automl.study.run import prepare
    from automl.tuning.objective import TrialRunner, start_trial
    from automl.tuning.signals import StopSignals
    from automl.tuning.study import open_study

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="automl-bench-study-") as directory:
        run = prepare(_study_plan(epochs, seed, Path(directory), pruner))
        study, sampler, _ = open_study(run, [])
        signals = StopSignals()
        runner = TrialRunner(run, study, sampler, signals)
        with signals:
            trial, params = start_trial(run, study)
            assert params == {}
            clock = Clock()
            state = runner.run_trial(trial, params)
            wall, cpu = clock.read()
        assert state == TrialState.COMPLETE, state
        frozen = study.trials[0]
        assert len(frozen.intermediate_values) == epochs
        value = float(frozen.value)
        # The SQLite connection pool would keep the file open past the directory's removal.
        study._storage._backend.engine.dispose()  # type: ignore[attr-defined]
    return wall, cpu, value


def lightning_defaults(plugin, dataset, epochs: int, seed: int) -> tuple[float, float, float]:
    """Lightning as its docs start you off: default Trainer, DataLoader over a TensorDataset."""
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from automl.backends.quiet import quiet_lightning

    quiet_lightning()
    pl.seed_everything(seed, verbose=False)
    module = __import__("automl_plugins.cnn_model", fromlist=["build"]).build(
        plugin.config(), dataset.spec
    )

    def tensors(part):
        return TensorDataset(torch.as_tensor(part.x, dtype=torch.float32), torch.as_tensor(part.y))

    batch_size = plugin.config().batch_size
    train_dl = DataLoader(tensors(dataset.train), batch_size=batch_size, shuffle=True)
    val_dl = DataLoader(tensors(dataset.val), batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="automl-bench-lightning-") as root:
        trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, default_root_dir=root)
        clock = Clock()
        trainer.fit(module, train_dl, val_dl)
        wall, cpu = clock.read()
    return wall, cpu, float(trainer.callback_metrics["val_acc"])


def fabric_trial(plugin, dataset, epochs: int, seed: int) -> tuple[float, float, float]:
    """The lean loop's steps with Lightning Fabric handling device and precision."""
    import pytorch_lightning as pl
    import torch
    from lightning_fabric import Fabric

    from automl.backends import Goal
    from automl.backends.epoch_watch import EpochWatch
    from automl.backends.quiet import quiet_lightning
    from automl.backends.supervised import TensorBatches

    quiet_lightning()
    pl.seed_everything(seed, verbose=False)
    cfg = plugin.config()
    module = __import__("automl_plugins.cnn_model", fromlist=["build"]).build(cfg, dataset.spec)
    fabric = Fabric(accelerator="cpu", devices=1, precision="32-true")

    def tensors(part):
        x = torch.as_tensor(part.x, dtype=torch.float32).to(fabric.device)
        return x, torch.as_tensor(part.y).to(fabric.device)

    batches = TensorBatches(*tensors(dataset.train), cfg.batch_size, shuffle=True, seed=seed)
    val = TensorBatches(*tensors(dataset.val), 2048)
    watch = EpochWatch(Goal("acc", "maximize"), lambda step, value: False)
    clock = Clock()
    model, optimizer = fabric.setup(module, module.configure_optimizers())
    for epoch in range(epochs):
        total, n = None, 0
        for batch_idx, batch in enumerate(batches):
            loss = model.training_step(batch, batch_idx)
            optimizer.zero_grad()
            fabric.backward(loss)
            optimizer.step()
            loss = loss.detach()
            total = loss if total is None else total + loss
            n += 1
        modes = {name: m.training for name, m in module.named_modules()}
        module.eval()
        with torch.inference_mode():
            for batch_idx, batch in enumerate(val):
                model.validation_step(batch, batch_idx)
            metrics = {k: float(torch.tensor(v)) for k, v in module._validation_metrics().items()}
        for name, m in module.named_modules():
            m.training = modes.get(name, m.training)
        if watch.end_epoch(epoch, metrics, total, n, module):
            break
    watch.finish(module)
    wall, cpu = clock.read()
    return wall, cpu, float(watch.best)  # type: ignore[arg-type]


RUNNERS = {
    "plain": plain_loop,
    "automl": automl_trial,
    "automl_files": automl_files_trial,
    "automl_study": automl_study_trial,
    "lightning_defaults": lightning_defaults,
    "fabric": fabric_trial,
}


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    plugin, dataset = setup(args.threads)
    runners = {name: RUNNERS[name] for name in args.variants}
    if "automl_study" in runners:
        runners["automl_study"] = functools.partial(automl_study_trial, pruner=args.pruner)
    # warm-up: first-call costs (imports, kernel selection) are not per-trial overhead
    for run in runners.values():
        run(plugin, dataset, 1, 0)
    load_start = os.getloadavg()
    times: dict[str, list[float]] = {k: [] for k in runners}
    cpu: dict[str, list[float]] = {k: [] for k in runners}
    accs: dict[str, list[float]] = {k: [] for k in runners}
    for rep in range(args.repeats):
        for name, run in runners.items():  # interleaved so drift hits every variant alike
            seconds, cpu_s, acc = run(plugin, dataset, args.epochs, rep)
            cpu[name].append(cpu_s)
            times[name].append(seconds)
            accs[name].append(acc)
    med = {k: statistics.median(v) for k, v in times.items()}
    low = {k: min(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    result = {
        "epochs": args.epochs,
        "repeats": args.repeats,
        "threads": torch.get_num_threads(),
        "study_pruner": args.pruner,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "loadavg_start": list(load_start),
        "loadavg_end": list(os.getloadavg()),
        "median_s": med,
        "min_s": low,
        "max_s": {k: max(v) for k, v in times.items()},
        "times_s": times,
        "best_val_acc": {k: statistics.median(v) for k, v in accs.items()},
        "val_accs": accs,
        "ratio_vs_plain": {k: med[k] / med["plain"] for k in med},
        "min_ratio_vs_plain": {k: low[k] / low["plain"] for k in low},
        # CPU seconds of this process over the same span (a check on the wall-clock ratios
        # when other jobs share the machine; the target is the wall-clock ratio)
        "cpu_median_s": cpu_med,
        "cpu_ratio_vs_plain": {k: cpu_med[k] / cpu_med["plain"] for k in cpu_med},
    }
    print(
        f"CNN on digits, {args.epochs} epochs, {args.repeats} repeats, "
        f"{result['threads']} torch threads, study pruner {args.pruner}, load "
        f"{load_start[0]:.1f} -> "
        f"{result['loadavg_end'][0]:.1f}"
    )
    print(
        f"{'variant':<20}{'median s':>10}{'min s':>9}{'max s':>9}{'x plain':>9}"
        f"{'x (min)':>9}{'val acc':>9}{'cpu x':>8}"
    )
    for k in runners:
        print(
            f"{k:<20}{med[k]:>10.3f}{low[k]:>9.3f}{result['max_s'][k]:>9.3f}"
            f"{result['ratio_vs_plain'][k]:>9.3f}{result['min_ratio_vs_plain'][k]:>9.3f}"
            f"{result['best_val_acc'][k]:>9.3f}{result['cpu_ratio_vs_plain'][k]:>8.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
