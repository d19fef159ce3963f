"""Would other median-pruner settings have kept the trial that wins? A counterfactual replay.

Takes the automl runs of a ``vs_hydra_sweeper.py`` results file made with one worker (trials
run one after another, in number order), retrains every pruned trial to full length with its
configuration and training seed (the same run up to its pruning epoch: checked), and then
replays Optuna's median pruner (``n_startup_trials=4``, the same percentile rule) over the
full trajectories for several ``n_warmup_steps``. Reported per setting: epochs run, best
validation accuracy kept, whether the repeat's target (the sweeper's best) is reached, and
the epochs run until it is.

The replay keeps the sampled configurations fixed: with other pruning decisions TPE would
have seen other values and sampled other configurations, so this measures what the pruner
throws away, not a whole alternative study.

    python benchmarks/pruner_check.py --results benchmarks/results/vs_hydra_sweeper_20x30.json \\
        --json benchmarks/results/pruner_check.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

STARTUP = 4


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, required=True, help="a vs_hydra_sweeper.py JSON file")
    p.add_argument("--warmups", type=int, nargs="+", default=[3, 5, 8, 10, 15])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def full_trajectories(run: dict[str, Any], epochs: int, threads: int) -> dict[int, list[float]]:
    """Per trial, its validation accuracy after each of ``epochs`` epochs."""
    from omegaconf import OmegaConf

    from automl.core.registry import discover_data, discover_models
    from automl.data import load_dataset
    from automl.study.config import TrainerConfig
    from automl.study.plan import trial_config
    from automl.study.train import fit

    plugin = discover_models().get("cnn")
    data_plugin = discover_data().get("digits")
    dataset = load_dataset(data_plugin, data_plugin.config())
    trainer = TrainerConfig(max_epochs=epochs, seed=run["repeat"], num_threads=threads)
    base = OmegaConf.structured(plugin.config)
    out: dict[int, list[float]] = {}
    for t in run["trials"]:
        seen = {int(k): v for k, v in (t.get("intermediate") or {}).items()}
        if t["state"] == "COMPLETE":
            out[t["number"]] = [seen[s] for s in range(epochs)]
            continue
        if t["state"] != "PRUNED":
            continue
        values: list[float] = []
        cfg = OmegaConf.to_object(trial_config(base, t["params"]))
        fit(plugin, cfg, dataset, trainer,
            report=lambda s, v, values=values: values.append(v) and False,
            seed=run["repeat"] + t["number"])  # fmt: skip
        same = all(abs(values[s] - v) < 1e-9 for s, v in seen.items())
        print(f"  rep {run['repeat']} pruned #{t['number']} retrained: full best "
              f"{max(values):.4f}; same run until pruned: {same}", flush=True)  # fmt: skip
        out[t["number"]] = values
    return out


def replay(curves: dict[int, list[float]], warmup: int | None, target: float) -> dict[str, Any]:
    """The median pruner over fixed trajectories, trials in number order."""
    completed: list[list[float]] = []
    pruned: list[int] = []
    epochs = 0
    reached_at = None
    best = None
    for number in sorted(curves):
        curve = curves[number]
        stop = len(curve)
        for step in range(len(curve)):
            if warmup is None or len(completed) < STARTUP or step < warmup:
                continue
            median = statistics.median(c[step] for c in completed if len(c) > step)
            if max(curve[: step + 1]) < median:
                stop = step + 1
                pruned.append(number)
                break
        epochs += stop
        if stop == len(curve):
            completed.append(curve)
            value = max(curve)
            best = value if best is None else max(best, value)
            if reached_at is None and value >= target - 1e-9:
                reached_at = epochs
    return {"epochs": epochs, "best": best, "reached": reached_at is not None,
            "epochs_to_target": reached_at, "pruned": pruned}  # fmt: skip


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    result = json.loads(args.results.read_text())
    epochs = int(result["settings"]["epochs"])
    if int(result["settings"].get("workers", 1)) != 1:
        raise SystemExit("the replay needs a one-worker results file (trials in number order)")
    runs = [r for r in result["runs"] if r["variant"] == "automl"]
    settings: list[int | None] = [*args.warmups, None]
    per: dict[str, list[dict[str, Any]]] = {str(w): [] for w in settings}
    for run in runs:
        curves = full_trajectories(run, epochs, args.threads)
        for w in settings:
            per[str(w)].append({"repeat": run["repeat"], **replay(curves, w, run["target"])})
        actual = sorted(t["number"] for t in run["trials"] if t["state"] == "PRUNED")
        if "3" in per:
            replayed = per["3"][-1]["pruned"]
            print(f"  rep {run['repeat']}: the replay of the default prunes {replayed}, "
                  f"the study pruned {actual}", flush=True)  # fmt: skip
    rows = []
    for w in settings:
        mine = per[str(w)]
        rows.append([
            "no pruning" if w is None else f"n_warmup_steps={w}" + (" (default)" if w == 3 else ""),
            " / ".join(str(m["epochs"]) for m in mine),
            " / ".join(f"{m['best']:.4f}" for m in mine),
            f"{sum(m['reached'] for m in mine)}/{len(mine)}",
            " / ".join(str(m["epochs_to_target"] or "-") for m in mine),
        ])  # fmt: skip
    text = c.print_table(
        f"median pruner replayed over full trajectories ({args.results.name}; per repeat)",
        ["pruner", "epochs run", "best val acc kept", "reached target", "epochs to target"],
        rows,
    )
    out = {"benchmark": "pruner_check", "results": str(args.results), "replays": per,
           "table_markdown": text, "machine": c.machine_info()}  # fmt: skip
    c.write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
