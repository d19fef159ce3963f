"""Multi-fidelity search on LCBench: automl's samplers and pruners against random search and DEHB.

Every automl run is a real study (``automl.tuning.run_study``: sampler, pruner, storage,
leaderboard, export) of the ``lcbench`` benchmark plugin (``benchmarks/lcbench_plugin``,
registered from its source folder; ``pip install benchmarks/lcbench_plugin`` makes it a
``python -m automl model=lcbench`` plugin too), whose trials ask YAHPO Gym's LCBench surrogate
for each epoch's validation accuracy. Budgets are simulated epochs: a run may spend
``--budget-trials`` full-length trials' worth (100 x 52 = 5,200 epochs by default), however
its pruner splits them. The study is run in chunks (``sweep.n_trials`` raised and the study
resumed, as a rerun of the command does) until its trials have spent the budget; trials past
it do not count.

DEHB (``dehb`` from PyPI) runs in its own environment (``benchmarks/.envs/lcbench-peers``)
on the same surrogate with the same budget (``benchmarks/peers/lcbench_peer.py``).

Measures, per method (docs/benchmarks.md explains them):

- normalized regret of the incumbent, the best trial that trained all 52 epochs (what
  automl exports): ``(best known - incumbent) / (best known - median random)``, where the
  median random configuration and the best known value come from ``--reference-configs``
  random configurations per task (plus every full-length result of every run); 0 = the best
  known value, 1 = a median random configuration (also before any full-length trial ended);
- its mean over tasks and seeds at 10/25/50/100 % of the budget;
- mean rank across tasks (per task, methods ranked on their mean final regret over seeds);
- speed-up to random search's final mean regret: 1 / the budget share at which the method's
  mean regret curve first reaches it.

``--quick`` runs 4 of the 34 tasks (``QUICK_TASKS``, the first four in YAHPO's order) with 2
seeds and drops GP (seconds per trial to fit). Results are cached per run under ``--work``,
so an interrupted benchmark resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    DEFAULT_ENV_ROOT,
    HERE,
    PeerEnv,
    ensure_env,
    env_commands,
    env_versions,
    local_versions,
    machine_info,
    write_json,
)

PLUGIN_DIR = HERE / "lcbench_plugin"
PLUGIN_SRC = PLUGIN_DIR / "src"
PEER = HERE / "peers" / "lcbench_peer.py"
MAX_EPOCH = 52
FRACTIONS = (0.10, 0.25, 0.50, 1.00)
GRID = np.linspace(0.01, 1.0, 100)  # budget shares the anytime curves are sampled at

METHODS: dict[str, list[str]] = {
    "random": ["sweep.sampler=random", "sweep.pruner=none"],
    "default": [],  # automl's defaults, whatever conf/sweep/optuna.yaml says today
    "tpe-median": ["sweep.sampler=tpe", "sweep.pruner=median"],
    "tpe-sha": ["sweep.sampler=tpe", "sweep.pruner=successive_halving"],
    "tpe-hyperband": ["sweep.sampler=tpe", "sweep.pruner=hyperband"],
    "random-hyperband": ["sweep.sampler=random", "sweep.pruner=hyperband"],
    "cmaes-median": ["sweep.sampler=cmaes", "sweep.pruner=median"],
    "tpe-none": ["sweep.sampler=tpe", "sweep.pruner=none"],
    "gp": ["sweep.sampler=gp", "sweep.pruner=none"],
}
MO = "sweep.objectives=[accuracy,time:min]"
MO_METHODS: dict[str, list[str]] = {
    "mo-none": [MO, "sweep.pruner=none"],
    "mo-median": [MO, "sweep.pruner=median"],
    "mo-hyperband": [MO, "sweep.pruner=hyperband"],
}
METHODS.update(MO_METHODS)
PEERS = ("dehb",)
DEFAULT_METHODS = (
    "random",
    "default",
    "tpe-none",
    "tpe-sha",
    "tpe-hyperband",
    "random-hyperband",
    "cmaes-median",
    "gp",
    "dehb",
)
QUICK_TASKS = ("3945", "7593", "34539", "126025")
QUICK_DROP = ("gp",)
BASELINE = "random"

# Every automl run: the benchmark plugin, no live view, no report, no defaults enqueued
# (every method starts from its own sampler's draws, as DEHB and random search do).
COMMON = [
    "model=lcbench",
    "data=lcbench",
    "sweep.live=false",
    "sweep.report=false",
    "sweep.enqueue_defaults=false",
    "sweep.heartbeat_interval=0",
]


def peer_env() -> PeerEnv:
    """DEHB and yahpo-gym (which pin numpy < 2) with onnxruntime, apart from automl's."""
    return PeerEnv(
        "lcbench-peers",
        (("dehb==0.1.2", "yahpo-gym==1.0.2", "onnxruntime"),),
        ("dehb", "yahpo_gym", "ConfigSpace", "onnxruntime", "numpy"),
    )


# -- the surrogate's reference values --------------------------------------------------------


def random_params(n: int, seed: int) -> np.ndarray:
    """``n`` random configurations of LCBench's space (uniform, log-uniform where it is log),
    columns in ``PARAMS`` order."""
    from automl_lcbench.surrogate import space

    rng = np.random.default_rng(seed)
    cols = []
    for h in space().values():
        lo, hi = float(h["lower"]), float(h["upper"])
        if h["log"]:
            col = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
        else:
            col = rng.uniform(lo, hi, n)
        if h["type"] == "int":
            col = np.clip(np.round(col), lo, hi)
        cols.append(col)
    return np.stack(cols, axis=1)


def reference(task: str, n: int, surrogate_path: str) -> dict[str, float]:
    """The median and best of ``n`` random configurations' best-epoch validation accuracy."""
    from automl_lcbench.surrogate import OUTPUTS, surrogate

    sur = surrogate(surrogate_path)
    values, times = [], []
    for chunk in np.array_split(random_params(n, seed=int(task)), max(1, n // 500)):
        curves = sur.curves(task, chunk)
        values.append(curves[:, :, OUTPUTS.index("val_accuracy")].max(axis=1) / 100.0)
        times.append(curves[:, -1, OUTPUTS.index("time")])
    v, t = np.concatenate(values), np.concatenate(times)
    return {
        "median": float(np.median(v)),
        "best": float(v.max()),
        "n": int(n),
        "time_max": float(t.max()),
        "time_min": float(t.min()),
    }


# -- one run ---------------------------------------------------------------------------------


def _compose(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    from automl.study.config import register_configs

    models, data = registries()
    register_configs(models, data)
    GlobalHydra.instance().clear()
    with initialize_config_module("automl.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg, models, data


def automl_run(
    method: str,
    overrides: list[str],
    task: str,
    seed: int,
    budget: int,
    scratch: Path,
    surrogate_path: str,
) -> dict[str, Any]:
    """One study of ``model=lcbench`` until its trials have spent ``budget`` epochs.

    Returns:
        The trials in the order they ran: epochs trained, state, value (complete trials) or
        values (several objectives), and the run's wall time and study time.
    """
    import optuna
    from rich.console import Console

    from automl.core.records import record_of
    from automl.study.plan import make_plan
    from automl.study.run import prepare
    from automl.tuning import run_study
    from automl.tuning.storage import make_storage

    work = Path(tempfile.mkdtemp(prefix=f"lcb-{method}-{task}-{seed}-", dir=scratch))
    storage = work / "study.jsonl"
    t0 = time.perf_counter()
    try:
        cfg, models, data = _compose(
            [
                *COMMON,
                f"model.task={task}",
                f"model.surrogate={surrogate_path}",
                f"sweep.seed={seed}",
                f"sweep.storage={storage}",
                "sweep.study_name=lcbench",
                "sweep.n_trials=1",
                *overrides,
            ]
        )
        plan = make_plan(cfg, "lcbench", "lcbench", models, data, work / "run")
        quiet = Console(file=io.StringIO(), width=200)
        n, chunks, study_s = budget // MAX_EPOCH, 0, 0.0
        while True:
            # A plan is frozen: each chunk is the same study prepared with a larger total.
            plan = dataclasses.replace(plan, sweep=dataclasses.replace(plan.sweep, n_trials=n))
            run = prepare(plan)
            start = time.perf_counter()
            outcome = run_study(run, quiet)
            study_s += time.perf_counter() - start
            chunks += 1
            if outcome.exit_code != 0:
                raise RuntimeError(f"{method} task {task} seed {seed}: exit {outcome.exit_code}")
            study = optuna.load_study(
                study_name="lcbench", storage=make_storage(str(storage), work / "run")
            )
            trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
            spent = sum(record_of(t).epochs or 0 for t in trials)
            if spent >= budget:
                break
            mean = max(spent / max(len(trials), 1), 1.0)
            n = len(trials) + max(1, math.ceil((budget - spent) / mean))
        rows = []
        for t in trials:
            rec = record_of(t)
            row: dict[str, Any] = {"epochs": rec.epochs or 0, "state": t.state.name}
            if t.intermediate_values:  # its best epoch, full-length or not
                row["best"] = max(t.intermediate_values.values())
            if t.state.name == "COMPLETE":
                row["values"] = list(t.values)
                row["metrics"] = {k: v for k, v in (rec.metrics or {}).items() if k == "val_time"}
            rows.append(row)
        return {
            "method": method,
            "task": task,
            "seed": seed,
            "trials": rows,
            "chunks": chunks,
            "wall_s": time.perf_counter() - t0,
            "study_s": study_s,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def dehb_run(
    python: Path, task: str, seed: int, budget: int, scratch: Path, surrogate_path: str
) -> dict[str, Any]:
    """DEHB on the same surrogate (in the peer environment)."""
    out = scratch / f"dehb-{task}-{seed}-{os.getpid()}.json"
    t0 = time.perf_counter()
    cmd = [str(python), str(PEER), "dehb", "--task", task, "--seed", str(seed)]
    cmd += ["--budget", str(budget), "--out", str(out), "--surrogate", surrogate_path]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    result = json.loads(out.read_text())
    out.unlink()
    rows = []
    for e in result["evals"]:
        full = e["fidelity"] >= MAX_EPOCH
        rows.append(
            {
                "epochs": e["fidelity"],
                "state": "COMPLETE" if full else "PRUNED",
                "best": e["value"],
                **({"values": [e["value"]]} if full else {}),
            }
        )
    return {
        "method": "dehb",
        "task": task,
        "seed": seed,
        "trials": rows,
        "wall_s": time.perf_counter() - t0,
        "study_s": result["wall_s"],
    }


def any_fidelity(result: dict[str, Any]) -> dict[str, Any] | None:
    """A DEHB run scored by DEHB's own incumbent, the best evaluation at any fidelity
    (``dehb-any``); ``None`` for a run recorded without each evaluation's value."""
    if not all("best" in t for t in result["trials"]):
        return None
    trials = [
        {"epochs": t["epochs"], "state": "COMPLETE", "values": [t["best"]], "any_fidelity": True}
        for t in result["trials"]
    ]
    return {**result, "method": f"{result['method']}-any", "trials": trials}


def _job(args: tuple[Any, ...]) -> dict[str, Any]:
    method, overrides, task, seed, budget, scratch, surrogate_path, peer_python = args
    if method == "dehb":
        return dehb_run(peer_python, task, seed, budget, scratch, surrogate_path)
    return automl_run(method, overrides, task, seed, budget, scratch, surrogate_path)


# -- measures --------------------------------------------------------------------------------


def incumbents(trials: Sequence[dict[str, Any]], budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative epochs after each trial and the best full-length value by then (NaN before
    the first), for trials that ended within ``budget``."""
    spent, best, cost, inc = 0, -math.inf, [], []
    for t in trials:
        spent += int(t["epochs"])
        if spent > budget:
            break
        if t["state"] == "COMPLETE" and (t.get("any_fidelity") or int(t["epochs"]) >= MAX_EPOCH):
            best = max(best, float(t["values"][0]))
        cost.append(spent)
        inc.append(best)
    return np.asarray(cost, float), np.asarray(inc, float)


def regret_curve(
    trials: Sequence[dict[str, Any]], budget: int, ref: dict[str, float], grid: np.ndarray = GRID
) -> np.ndarray:
    """Normalized regret of the incumbent at each budget share of ``grid``: 0 = the best
    known value, 1 = the median random configuration (and before any full-length trial)."""
    cost, inc = incumbents(trials, budget)
    out = np.ones(len(grid))
    span = ref["best"] - ref["median"]
    for i, share in enumerate(grid):
        done = cost <= share * budget + 1e-9
        if done.any() and np.isfinite(inc[done][-1]):
            out[i] = (ref["best"] - inc[done][-1]) / span
    return out


def hypervolume(points: Sequence[tuple[float, float]]) -> float:
    """Area dominated by ``points`` (both coordinates minimized) inside the unit square,
    whose corner (1, 1) is the reference point."""
    inside = sorted((x, y) for x, y in points if x < 1.0 and y < 1.0)
    # Between one point's x and the next, the dominated height is 1 - the lowest y so far.
    area, best_y = 0.0, 1.0
    xs = [x for x, _ in inside] + [1.0]
    for i, (x, y) in enumerate(inside):
        best_y = min(best_y, y)
        area += (xs[i + 1] - x) * (1.0 - best_y)
    return area


def mo_points(
    trials: Sequence[dict[str, Any]], budget: int, ref: dict[str, float]
) -> list[tuple[float, float]]:
    """Complete trials that ended within ``budget`` as (normalized regret, normalized time):
    accuracy as in ``regret_curve``, time as a share of the slowest random configuration's
    52 epochs."""
    spent, out = 0, []
    span = ref["best"] - ref["median"]
    for t in trials:
        spent += int(t["epochs"])
        if spent > budget:
            break
        if t["state"] == "COMPLETE":
            acc, sim = float(t["values"][0]), float(t["values"][1])
            out.append(((ref["best"] - acc) / span, sim / ref["time_max"]))
    return out


def summarize_mo(
    results: list[dict[str, Any]],
    refs: dict[str, dict[str, float]],
    budget: int,
    methods: Sequence[str],
) -> dict[str, Any]:
    """Mean hypervolume of (accuracy, time) at ``FRACTIONS`` of the budget, and mean rank."""
    # The best known accuracy includes every run's, as in ``summarize``: regrets stay >= 0.
    refs = {k: dict(v) for k, v in refs.items()}
    for r in results:
        for t in r["trials"]:
            if t["state"] == "COMPLETE":
                refs[r["task"]]["best"] = max(refs[r["task"]]["best"], float(t["values"][0]))
    table: dict[str, Any] = {}
    per_task: dict[str, dict[str, list[float]]] = {m: {} for m in methods}
    for m in methods:
        runs = [r for r in results if r["method"] == m]
        at = {}
        for f in FRACTIONS:
            hv = [
                hypervolume(mo_points(r["trials"], int(f * budget), refs[r["task"]])) for r in runs
            ]
            at[f"{int(f * 100)}%"] = float(np.mean(hv)) if hv else None
        for r in runs:
            hv = hypervolume(mo_points(r["trials"], budget, refs[r["task"]]))
            per_task[m].setdefault(r["task"], []).append(hv)
        pruned = [sum(t["state"] == "PRUNED" for t in r["trials"]) for r in runs]
        table[m] = {
            "hypervolume": at,
            "runs": len(runs),
            "trials_per_run": float(np.median([len(r["trials"]) for r in runs])) if runs else None,
            "pruned_per_run": float(np.median(pruned)) if runs else None,
            "front_size": float(
                np.median(
                    [len(_front(mo_points(r["trials"], budget, refs[r["task"]]))) for r in runs]
                )
            )
            if runs
            else None,
        }
    tasks = sorted({t for m in methods for t in per_task[m]})
    ranks: dict[str, list[float]] = {m: [] for m in methods}
    for t in tasks:
        means = {m: float(np.mean(per_task[m][t])) for m in methods if t in per_task[m]}
        order = sorted(means, key=lambda m: -means[m])
        for m in means:
            ranks[m].append(
                statistics.mean(
                    [i + 1 for i, k in enumerate(order) if abs(means[k] - means[m]) < 1e-12]
                )
            )
    for m in methods:
        table[m]["mean_rank"] = float(np.mean(ranks[m])) if ranks[m] else None
    return {"tasks": tasks, "methods": table}


def _front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    return [p for p in points if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)]


def print_mo(summary: dict[str, Any], methods: Sequence[str]) -> str:
    lines = [
        "| method | hypervolume 10% | 25% | 50% | 100% | mean rank | trials/run "
        "| pruned/run | front size |",
        "| " + " | ".join(["---"] * 9) + " |",
    ]
    for m in methods:
        row = summary["methods"][m]
        hv = row["hypervolume"]
        lines.append(
            f"| {m} | {hv['10%']:.3f} | {hv['25%']:.3f} | {hv['50%']:.3f} | {hv['100%']:.3f} | "
            f"{row['mean_rank']:.2f} | {row['trials_per_run']:.0f} | {row['pruned_per_run']:.0f} | "
            f"{row['front_size']:.0f} |"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def summarize(
    results: list[dict[str, Any]],
    refs: dict[str, dict[str, float]],
    budget: int,
    methods: Sequence[str],
) -> dict[str, Any]:
    """Mean regret at ``FRACTIONS``, mean rank across tasks, speed-up over random search."""
    # The best known value of a task: the reference sample's or any run's full-length best.
    refs = {k: dict(v) for k, v in refs.items()}
    for r in results:
        _, inc = incumbents(r["trials"], budget)
        if len(inc) and np.isfinite(inc[-1]):
            refs[r["task"]]["best"] = max(refs[r["task"]]["best"], float(inc[-1]))
    curves: dict[str, dict[str, list[np.ndarray]]] = {m: {} for m in methods}
    for r in results:
        if r["method"] in curves:
            c = regret_curve(r["trials"], budget, refs[r["task"]])
            curves[r["method"]].setdefault(r["task"], []).append(c)
    tasks = sorted({t for m in methods for t in curves[m]})
    mean_curve = {
        m: np.mean([c for t in tasks for c in curves[m].get(t, [])], axis=0) for m in methods
    }
    per_task_final = {
        m: {t: float(np.mean([c[-1] for c in curves[m][t]])) for t in curves[m]} for m in methods
    }
    # A derived row (``dehb-any``: the same runs scored another way) is ranked in place of
    # the method it derives from, so it does not push the others down.
    base = [m for m in methods if not m.endswith("-any")]
    ranks: dict[str, list[float]] = {m: [] for m in methods}
    for t in tasks:
        for m in methods:
            rivals = [x for x in base if x != m.removesuffix("-any")] + [m]
            vals = sorted(per_task_final[x][t] for x in rivals if t in per_task_final[x])
            if t in per_task_final[m]:
                v = per_task_final[m][t]
                # Ties share the mean of their ranks.
                positions = [i + 1 for i, x in enumerate(vals) if abs(x - v) < 1e-12]
                ranks[m].append(statistics.mean(positions))
    target = float(mean_curve[BASELINE][-1]) if BASELINE in mean_curve else None
    table: dict[str, Any] = {}
    for m in methods:
        mc = mean_curve[m]
        at = {f"{int(f * 100)}%": float(mc[int(round(f * len(GRID))) - 1]) for f in FRACTIONS}
        share = None
        if target is not None:
            hit = np.nonzero(mc <= target + 1e-12)[0]
            share = float(GRID[hit[0]]) if len(hit) else None
        n_trials = [len(r["trials"]) for r in results if r["method"] == m]
        walls = [r["wall_s"] for r in results if r["method"] == m]
        table[m] = {
            "regret": at,
            "mean_rank": float(np.mean(ranks[m])) if ranks[m] else None,
            "share_to_random_final": share,
            "speedup": (1.0 / share) if share else None,
            "runs": len(walls),
            "trials_per_run": float(np.median(n_trials)) if n_trials else None,
            "wall_s_per_run": float(np.median(walls)) if walls else None,
            "curve": [float(x) for x in mc],
        }
    return {"tasks": tasks, "random_final": target, "methods": table, "refs": refs}


def print_summary(summary: dict[str, Any], methods: Sequence[str]) -> str:
    head = (
        "| method | regret 10% | 25% | 50% | 100% | mean rank | budget to random's final "
        "| speed-up | trials/run | wall s/run |"
    )
    lines = [head, "| " + " | ".join(["---"] * 10) + " |"]
    for m in methods:
        row = summary["methods"][m]
        r = row["regret"]
        share = row["share_to_random_final"]
        speedup = f"{row['speedup']:.1f}x" if row["speedup"] else "-"
        lines.append(
            f"| {m} | {r['10%']:.3f} | {r['25%']:.3f} | {r['50%']:.3f} | {r['100%']:.3f} | "
            f"{row['mean_rank']:.2f} | {f'{share:.0%}' if share else 'not reached'} | "
            f"{speedup} | "
            f"{row['trials_per_run']:.0f} | {row['wall_s_per_run']:.1f} |"
        )
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def plot(summary: dict[str, Any], methods: Sequence[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    for m in methods:
        curve = summary["methods"][m]["curve"]
        style = "-" if m not in ("random", "dehb") else "--"
        ax.plot(GRID * 100, curve, style, label=m, linewidth=2 if m == "default" else 1.3)
    if summary["random_final"] is not None:
        ax.axhline(summary["random_final"], color="grey", linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("budget spent (% of 100 full-length trials = 5,200 epochs)")
    ax.set_ylabel("mean normalized regret (log)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"figure written to {path}")


# -- command line ----------------------------------------------------------------------------


def _variant(text: str) -> tuple[str, list[str]]:
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(
            f"--variant {text!r}: write NAME=OVERRIDE;OVERRIDE, e.g. "
            "'tpe-median-w10=sweep.pruner=median;+sweep.pruner_args.n_warmup_steps=10'"
        )
    return name, [o for o in rest.split(";") if o]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="automl's samplers and pruners against random search and DEHB on LCBench",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--quick", action="store_true", help=f"tasks {','.join(QUICK_TASKS)}, 2 seeds, no GP"
    )
    p.add_argument(
        "--mo",
        action="store_true",
        help="two objectives (val_accuracy, simulated time): pruning against none, "
        "by hypervolume; methods default to " + ",".join(MO_METHODS),
    )
    p.add_argument("--tasks", default="all", help="comma-separated OpenML task ids, or all")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    p.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        help="an extra automl method: NAME=OVERRIDE;OVERRIDE (repeatable)",
    )
    p.add_argument("--budget-trials", type=int, default=100, help="budget in full-length trials")
    p.add_argument("--jobs", type=int, default=2, help="runs in parallel (processes)")
    p.add_argument(
        "--reference-configs",
        type=int,
        default=2000,
        help="random configurations per task for the median and best known value",
    )
    p.add_argument(
        "--surrogate", default="", help="folder of the surrogate (default: the copy in the plugin)"
    )
    p.add_argument(
        "--scratch",
        type=Path,
        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
        help="where studies live while they run (tmpfs by default)",
    )
    p.add_argument(
        "--work",
        type=Path,
        default=HERE / ".work" / "lcbench",
        help="cache of finished runs and references (resumes)",
    )
    p.add_argument("--env-root", type=Path, default=DEFAULT_ENV_ROOT)
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--figure", type=Path, default=None, help="write the anytime curves here (PNG)")
    p.add_argument(
        "--check-yahpo",
        action="store_true",
        help="compare the surrogate's numbers with yahpo-gym's and exit",
    )
    p.add_argument("--print-env-commands", action="store_true")
    p.add_argument(
        "--no-run",
        action="store_true",
        help="run nothing: summarize the cached runs of the (task, seed) pairs every method "
        "has finished",
    )
    a = p.parse_args(argv)
    if a.mo and a.methods == ",".join(DEFAULT_METHODS):
        a.methods = ",".join(MO_METHODS)
    methods = [m for m in a.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS and m not in PEERS]
    if unknown:
        p.error(f"--methods: unknown {unknown}; known: {', '.join([*METHODS, *PEERS])}")
    if a.seeds < 1 or a.budget_trials < 1 or a.jobs < 1:
        p.error("--seeds, --budget-trials and --jobs must be >= 1")
    if a.quick:
        methods = [m for m in methods if m not in QUICK_DROP]
        a.seeds = min(a.seeds, 2)
        if a.tasks == "all":
            a.tasks = ",".join(QUICK_TASKS)
    a.methods = methods + [name for name, _ in a.variant]
    return a


def use_plugin() -> None:
    """Make the benchmark plugin importable from its source folder (nothing is installed:
    an installed ``lcbench`` plugin would show in every ``model=auto`` study's notes)."""
    if str(PLUGIN_SRC) not in sys.path:
        sys.path.insert(0, str(PLUGIN_SRC))


def registries() -> tuple[Any, Any]:
    """automl's plugins plus ``model=lcbench`` and ``data=lcbench`` from the source folder."""
    from importlib.metadata import EntryPoint, entry_points

    from automl.core.registry import DATA_GROUP, MODEL_GROUP, discover_data, discover_models

    use_plugin()

    def eps(group: str, attr: str) -> list[EntryPoint]:
        found = [e for e in entry_points(group=group) if e.name != "lcbench"]
        return [*found, EntryPoint("lcbench", f"automl_lcbench.plugin:{attr}", group)]

    return discover_models(eps(MODEL_GROUP, "MODEL")), discover_data(eps(DATA_GROUP, "DATA"))


def _preload() -> None:
    """Import what every run needs once, before the pool forks its workers (each would pay
    seconds of imports otherwise)."""
    import hydra  # noqa: F401
    import optuna  # noqa: F401
    import sklearn.model_selection  # noqa: F401  (the data split)

    import automl.data.split  # noqa: F401
    import automl.tuning  # noqa: F401

    use_plugin()
    import automl_lcbench.model  # noqa: F401


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    a = parse_args(argv)
    env = peer_env()
    if a.print_env_commands:
        for cmd in env_commands(env, a.env_root):
            print(" ".join(cmd))
        return {}
    use_plugin()
    from automl_lcbench.surrogate import tasks as all_tasks

    peer_python = ensure_env(env, a.env_root) if ("dehb" in a.methods or a.check_yahpo) else None
    if a.check_yahpo:
        assert peer_python is not None
        out = Path(tempfile.mkstemp(suffix=".json")[1])
        cmd = [str(peer_python), str(PEER), "check-yahpo", "--out", str(out)]
        subprocess.run([*cmd, "--surrogate", a.surrogate], check=True, capture_output=True)
        result = json.loads(out.read_text())
        print(json.dumps(result, indent=2))
        write_json(a.json, result)
        return result
    tasks = list(all_tasks()) if a.tasks == "all" else [t for t in a.tasks.split(",") if t]
    budget = a.budget_trials * MAX_EPOCH
    overrides = {**METHODS, **dict(a.variant)}
    a.work.mkdir(parents=True, exist_ok=True)
    scratch = a.scratch or Path(tempfile.gettempdir())
    refs_file = a.work / f"references-{a.reference_configs}.json"
    refs = json.loads(refs_file.read_text()) if refs_file.exists() else {}
    for t in tasks:
        if "time_max" not in refs.get(t, {}):
            refs[t] = reference(t, a.reference_configs, a.surrogate)
    refs_file.write_text(json.dumps(refs))
    load_start = os.getloadavg()
    jobs, results = [], []
    for seed in range(a.seeds):
        for t in tasks:
            for m in a.methods:
                key = a.work / "runs" / f"{m}-{t}-{seed}-b{budget}.json"
                if key.exists():
                    results.append(json.loads(key.read_text()))
                    continue
                jobs.append(
                    (
                        (
                            m,
                            overrides.get(m, []),
                            t,
                            seed,
                            budget,
                            scratch,
                            a.surrogate,
                            peer_python,
                        ),
                        key,
                    )
                )
    if a.no_run:
        have: dict[tuple[str, int], set[str]] = {}
        for r in results:
            have.setdefault((r["task"], r["seed"]), set()).add(r["method"])
        done = {k for k, v in have.items() if set(a.methods) <= v}
        results = [r for r in results if (r["task"], r["seed"]) in done]
        tasks = sorted({t for t, _ in done}, key=tasks.index)
        jobs = []
        print(f"--no-run: {len(done)} (task, seed) pairs finished by every method", flush=True)
    print(
        f"{len(results)} runs cached, {len(jobs)} to run on {a.jobs} processes "
        f"(load {load_start[0]:.1f})",
        flush=True,
    )
    _preload()
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=a.jobs) as pool:
        futures = {pool.submit(_job, args): key for args, key in jobs}
        for i, fut in enumerate(as_completed(futures), 1):
            r = fut.result()
            key = futures[fut]
            key.parent.mkdir(parents=True, exist_ok=True)
            key.write_text(json.dumps(r))
            results.append(r)
            print(
                f"[{i}/{len(jobs)}] {r['method']} task {r['task']} seed {r['seed']}: "
                f"{len(r['trials'])} trials, {r['wall_s']:.1f} s "
                f"({time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    results = [r for r in results if r["task"] in tasks and r["seed"] < a.seeds]
    methods = list(a.methods)
    if "dehb" in methods and not a.mo:
        derived = [d for r in results if r["method"] == "dehb" for d in [any_fidelity(r)] if d]
        if len(derived) == sum(r["method"] == "dehb" for r in results):
            results += derived
            methods.insert(methods.index("dehb") + 1, "dehb-any")
    a.methods = methods
    if a.mo:
        summary = summarize_mo(results, {t: refs[t] for t in tasks}, budget, a.methods)
        text = print_mo(summary, a.methods)
    else:
        summary = summarize(results, {t: refs[t] for t in tasks}, budget, a.methods)
        text = print_summary(summary, a.methods)
    title = (
        f"LCBench: {len(tasks)} tasks x {a.seeds} seed(s), budget {a.budget_trials} "
        "full-length trials"
    )
    if a.figure and not a.mo:
        plot(summary, a.methods, a.figure, title)
    out = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "tasks": tasks,
        "seeds": a.seeds,
        "budget_epochs": budget,
        "methods": {m: overrides.get(m, "peer") for m in a.methods},
        "summary": summary,
        "table": text,
        "elapsed_s": time.perf_counter() - t0,
        "load_start": list(load_start),
        "load_end": list(os.getloadavg()),
        "machine": machine_info(),
        "versions": {
            "automl_side": local_versions(["optuna", "numpy", "onnxruntime", "automl"]),
            **({"peers": env_versions(peer_python, env.packages)} if peer_python else {}),
        },
    }
    write_json(a.json, out)
    return out


if __name__ == "__main__":
    main()
