"""LCBench runs of the peer optimizers, in their own environment (benchmarks/.envs/lcbench-peers).

Run by ``benchmarks/lcbench.py``; not imported by automl. Two commands:

- ``dehb --task T --seed S --budget EPOCHS --out FILE``: DEHB (Awad, Mallik & Hutter, IJCAI
  2021; the ``dehb`` package from PyPI) on the same surrogate, with the same fidelity ladder
  as automl's Hyperband (``min_fidelity=2`` epochs, ``max_fidelity=52``, ``eta=3``: rungs at
  about 2, 6, 17 and 52 epochs). An evaluation at fidelity b trains b epochs from scratch
  (DEHB's own protocol) and costs b epochs; its fitness is the best validation accuracy of
  those b epochs, as automl's trials keep their best epoch. The run asks and tells until the
  evaluations have cost ``EPOCHS`` epochs, and writes every evaluation in order.
- ``check-yahpo --out FILE``: random configurations on every task through yahpo-gym's own
  ``BenchmarkSet("lcbench")`` and through ``automl_lcbench.surrogate``; writes the largest
  difference of each output.

The surrogate comes from ``automl_lcbench.surrogate`` (numpy and onnxruntime only), imported
from ``benchmarks/lcbench_plugin/src`` or from ``--surrogate``'s folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lcbench_plugin" / "src"))

from automl_lcbench.surrogate import (  # noqa: E402
    DEFAULT_PATH,
    MAX_EPOCH,
    OUTPUTS,
    PARAMS,
    space,
    surrogate,
)

VAL = OUTPUTS.index("val_accuracy")


def config_space(seed: int):  # type: ignore[no-untyped-def]
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace(seed=seed)
    for name, h in space().items():
        cls = (
            CS.UniformIntegerHyperparameter if h["type"] == "int" else CS.UniformFloatHyperparameter
        )
        cs.add_hyperparameter(cls(name, lower=h["lower"], upper=h["upper"], log=h["log"]))
    return cs


def run_dehb(task: str, seed: int, budget: int, path: str) -> dict:
    from dehb import DEHB

    sur = surrogate(path)
    cs = config_space(seed)
    opt = DEHB(
        cs=cs,
        dimensions=len(PARAMS),
        min_fidelity=MAX_EPOCH / 27,  # rungs at 52/27, 52/9, 52/3, 52: 2, 6, 17, 52 epochs
        max_fidelity=MAX_EPOCH,
        eta=3,
        n_workers=1,
        seed=seed,
        output_path=str(Path("/tmp") / f"dehb-{task}-{seed}"),
        log_level="ERROR",
    )
    evals = []
    spent = 0
    start = time.perf_counter()
    while spent < budget:
        job = opt.ask()
        fidelity = int(round(job["fidelity"]))
        cfg = job["config"]
        params = {p: float(cfg[p]) for p in PARAMS}
        curve = sur.curve(task, params, fidelity)[:, VAL] / 100.0
        value = float(curve.max())
        spent += fidelity
        evals.append({"fidelity": fidelity, "value": value, "params": params})
        opt.tell(job, {"fitness": -value, "cost": float(fidelity)})
    return {"evals": evals, "wall_s": time.perf_counter() - start}


def check_yahpo(path: str, n: int, seed: int) -> dict:
    from yahpo_gym import benchmark_set, local_config

    folder = Path(path) if path else DEFAULT_PATH
    local_config.init_config()
    local_config.set_data_path(str(folder.parent))
    if folder.name != "lcbench":
        raise SystemExit(f"check-yahpo needs the surrogate in a folder named lcbench, got {folder}")
    bench = benchmark_set.BenchmarkSet("lcbench", multithread=False)
    sur = surrogate(path)
    rng = np.random.default_rng(seed)
    worst = dict.fromkeys(OUTPUTS, 0.0)
    rows = 0
    for task in bench.instances:
        bench.set_instance(task)
        cs = bench.get_opt_space(drop_fidelity_params=True, seed=int(rng.integers(1 << 31)))
        for _ in range(n):
            cfg = dict(cs.sample_configuration())
            epoch = int(rng.integers(1, MAX_EPOCH + 1))
            theirs = bench.objective_function({**cfg, "epoch": epoch})[0]
            ours = sur.query(task, [cfg], [epoch])[0]
            for i, name in enumerate(OUTPUTS):
                worst[name] = max(worst[name], abs(float(theirs[name]) - float(ours[i])))
            rows += 1
    return {"configs": rows, "tasks": len(bench.instances), "max_abs_diff": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dehb")
    d.add_argument("--task", required=True)
    d.add_argument("--seed", type=int, required=True)
    d.add_argument("--budget", type=int, required=True, help="epochs")
    d.add_argument("--surrogate", default="")
    d.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("check-yahpo")
    c.add_argument("--surrogate", default="")
    c.add_argument("--configs", type=int, default=5, help="per task")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", type=Path, required=True)
    a = parser.parse_args()
    if a.cmd == "dehb":
        result = run_dehb(a.task, a.seed, a.budget, a.surrogate)
    else:
        result = check_yahpo(a.surrogate, a.configs, a.seed)
    a.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
