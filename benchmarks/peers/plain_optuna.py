"""What a researcher writes by hand: an Optuna study over the CNN, trained two ways.

``--loop lightning``: a LightningModule, DataLoaders over in-memory tensors and
optuna-integration's ``PyTorchLightningPruningCallback``. ``--loop torch``: a plain PyTorch
loop with ``trial.report`` / ``trial.should_prune`` after every validation epoch.

Same study as ``python -m automl model=cnn sweep=optuna``: the CNN plugin's space sampled in the
same order, TPE (seeded, multivariate, 5 start-up trials), median pruner (4 start-up trials,
3 warm-up epochs), the objective is the best validation accuracy over the trial's epochs, each
trial seeded ``seed + trial number``, and the best trial's best-epoch weights are evaluated
once on the test split. The study lives in memory (a hand-written script's default).

Runs in the ``optuna-lightning`` peer environment; writes a JSON summary to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from typing import Any

import optuna
import torch
from cnn_net import accuracy, load_split, make_net, make_optimizer, suggest
from torch import nn


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loop", choices=["lightning", "torch"], required=True)
    p.add_argument("--data", required=True, help="npz written by the benchmark driver")
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


class Best:
    """The best trial's best-epoch weights seen so far (to test it once at the end)."""

    def __init__(self) -> None:
        self.value = -1.0
        self.state: dict[str, Any] | None = None
        self.params: dict[str, Any] | None = None


def torch_objective(data: dict, epochs: int, seed: int, best: Best):
    """Plain PyTorch: permuted index slicing, eval every epoch, manual report/prune."""
    x, y = data["x_train"], data["y_train"]
    xv, yv = data["x_val"], data["y_val"]
    shape, n_classes = tuple(x.shape[1:]), int(y.max()) + 1
    loss_fn = nn.CrossEntropyLoss()

    def objective(trial: optuna.Trial) -> float:
        cfg = suggest(trial)
        torch.manual_seed(seed + trial.number)
        net = make_net(cfg, shape, n_classes)
        opt = make_optimizer(net.parameters(), cfg["optimizer"], cfg["lr"], cfg["weight_decay"])
        gen = torch.Generator().manual_seed(seed + trial.number)
        top, top_state = -1.0, None
        for epoch in range(epochs):
            net.train()
            order = torch.randperm(len(y), generator=gen)
            for i in range(0, len(y), cfg["batch_size"]):
                idx = order[i : i + cfg["batch_size"]]
                opt.zero_grad()
                loss_fn(net(x[idx]), y[idx]).backward()
                opt.step()
            acc = accuracy(net, xv, yv)
            if acc > top:
                top, top_state = acc, copy.deepcopy(net.state_dict())
            trial.set_user_attr("epochs", epoch + 1)
            trial.report(acc, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        if top > best.value:
            best.value, best.state, best.params = top, top_state, cfg
        return top

    return objective


def lightning_objective(data: dict, epochs: int, seed: int, best: Best):
    """Lightning: a module logging ``val_acc``, DataLoaders, the integration's pruning callback."""
    import lightning.pytorch as pl
    from optuna_integration import PyTorchLightningPruningCallback
    from torch.utils.data import DataLoader, TensorDataset

    shape, n_classes = tuple(data["x_train"].shape[1:]), int(data["y_train"].max()) + 1

    class Module(pl.LightningModule):
        def __init__(self, cfg: dict[str, Any]) -> None:
            super().__init__()
            self.cfg = cfg
            self.net = make_net(cfg, shape, n_classes)
            self.loss_fn = nn.CrossEntropyLoss()

        def forward(self, xb):
            return self.net(xb)

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            return self.loss_fn(self(xb), yb)

        def validation_step(self, batch, batch_idx):
            xb, yb = batch
            acc = (self(xb).argmax(1) == yb).float().mean()
            self.log("val_acc", acc, on_epoch=True, batch_size=len(yb))

        def configure_optimizers(self):
            c = self.cfg
            return make_optimizer(self.parameters(), c["optimizer"], c["lr"], c["weight_decay"])

    class KeepBest(pl.Callback):
        """Best validation accuracy and its weights; counts epochs run."""

        def __init__(self) -> None:
            self.top, self.state, self.epochs = -1.0, None, 0

        def on_validation_end(self, trainer, module):
            acc = float(trainer.callback_metrics["val_acc"])
            self.epochs = trainer.current_epoch + 1
            if acc > self.top:
                self.top, self.state = acc, copy.deepcopy(module.net.state_dict())

    val = DataLoader(TensorDataset(data["x_val"], data["y_val"]), batch_size=2048)

    def objective(trial: optuna.Trial) -> float:
        cfg = suggest(trial)
        pl.seed_everything(seed + trial.number, verbose=False)
        train = DataLoader(
            TensorDataset(data["x_train"], data["y_train"]),
            batch_size=cfg["batch_size"],
            shuffle=True,
        )
        keep = KeepBest()
        prune = PyTorchLightningPruningCallback(trial, monitor="val_acc")
        trainer = pl.Trainer(
            max_epochs=epochs,
            accelerator="auto",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            callbacks=[keep, prune],
        )
        try:
            # Single process: the callback raises optuna.TrialPruned from inside fit().
            trainer.fit(Module(cfg), train, val)
        finally:
            trial.set_user_attr("epochs", keep.epochs)
        prune.check_pruned()  # needed only under DDP; a no-op here, kept as the docs advise
        if keep.top > best.value:
            best.value, best.state, best.params = keep.top, keep.state, cfg
        return keep.top

    return objective


def main(argv=None) -> None:
    args = parse_args(argv)
    import logging
    import warnings

    for name in ("lightning", "lightning.pytorch", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = load_split(args.data)
    best = Best()
    make = lightning_objective if args.loop == "lightning" else torch_objective
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed, multivariate=True, n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3),
    )
    t0 = time.time()
    study.optimize(make(data, args.epochs, args.seed, best), n_trials=args.trials)
    test_acc = None
    if best.state is not None:
        shape, n_classes = tuple(data["x_train"].shape[1:]), int(data["y_train"].max()) + 1
        net = make_net(best.params, shape, n_classes)
        net.load_state_dict(best.state)
        test_acc = accuracy(net, data["x_test"], data["y_test"])
    trials = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "epochs": t.user_attrs.get("epochs", 0),
            "start": t.datetime_start.timestamp() if t.datetime_start else None,
            "complete": t.datetime_complete.timestamp() if t.datetime_complete else None,
        }
        for t in study.trials
    ]
    out = {
        "loop": args.loop,
        "study_s": time.time() - t0,
        "best_value": best.value if best.state is not None else None,
        "test_acc": test_acc,
        "best_params": best.params,
        "trials": trials,
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
