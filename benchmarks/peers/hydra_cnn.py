"""A small Hydra app training the CNN once per job, for Hydra's Optuna sweeper (no pruning).

Every job trains ``epochs`` epochs with a plain PyTorch loop on the split the benchmark driver
exported, returns its best validation accuracy to the sweeper, and appends one JSON line to
``log``: completion time, value, epochs, and the test accuracy of its best-epoch weights (the
driver picks the best trial's). Runs in the ``hydra-optuna`` peer environment:

    python hydra_cnn.py -m data=digits.npz log=trials.jsonl hydra.sweeper.n_trials=12
"""

from __future__ import annotations

import copy
import json
import time

import hydra
import torch
from cnn_net import DEFAULTS, accuracy, load_split, make_net, make_optimizer
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from torch import nn

_DATA: dict = {}


@hydra.main(version_base=None, config_path="hydra_conf", config_name="config")
def main(cfg: DictConfig) -> float:
    if cfg.data not in _DATA:  # jobs share the process: load the split once
        _DATA[cfg.data] = load_split(cfg.data)
    data = _DATA[cfg.data]
    params = {k: cfg[k] for k in DEFAULTS}
    number = HydraConfig.get().job.num
    x, y, xv, yv = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    torch.manual_seed(cfg.seed + number)
    net = make_net(params, tuple(x.shape[1:]), int(y.max()) + 1)
    p = params
    opt = make_optimizer(net.parameters(), p["optimizer"], p["lr"], p["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(cfg.seed + number)
    top, top_state = -1.0, None
    for _ in range(cfg.epochs):
        net.train()
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), params["batch_size"]):
            idx = order[i : i + params["batch_size"]]
            opt.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
        acc = accuracy(net, xv, yv)
        if acc > top:
            top, top_state = acc, copy.deepcopy(net.state_dict())
    net.load_state_dict(top_state)
    test_acc = accuracy(net, data["x_test"], data["y_test"])
    with open(cfg.log, "a") as f:
        line = {
            "number": number,
            "complete": time.time(),
            "value": top,
            "epochs": cfg.epochs,
            "test_acc": test_acc,
            "params": {k: (v if not hasattr(v, "item") else v.item()) for k, v in params.items()},
        }
        f.write(json.dumps(line) + "\n")
    return top


if __name__ == "__main__":
    main()
