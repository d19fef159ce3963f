"""automl vs Hydra's Optuna sweeper (``hydra-optuna-sweeper``) on the CNN over digits.

The sweeper runs ``peers/hydra_cnn.py`` (a small Hydra app training the CNN plugin's network
with a plain PyTorch loop, no pruning: the sweeper cannot prune) with ``-m`` over the CNN
plugin's space, TPE seeded with the repeat number, ``--trials`` trials of ``--epochs`` epochs.
automl runs ``python -m automl model=cnn data=digits sweep=optuna`` with the same space, seed
and budget (plus its median pruner). Both train on the same digits split.

Reported per repeat: wall time, best validation accuracy (and its test accuracy), and the time
each side needed to reach a target accuracy: the best validation accuracy the sweeper reached
in that repeat (``--target`` fixes it instead). Times are from the process launch to the
completion of the first finished trial at or above the target (automl: the study's trial
timestamps; sweeper: completion times the app logs). The claim under test: automl reaches the
same accuracy in at most half the sweeper's time.

``--workers N`` runs both sides N-wide: automl with ``sweep.workers=N`` (N worker processes
that each start the next trial as soon as one ends, with pruning), the sweeper with Hydra's
joblib launcher (``hydra/launcher=joblib hydra.launcher.n_jobs=N``) and ``n_jobs=N`` batches
(synchronous: a batch of N trials ends when its slowest trial does).

``--explain`` looks into every repeat in which automl missed the target: it retrains each of
automl's pruned trials to the full ``--epochs`` (same configuration and seed, so the same run up
to the epoch where it was pruned) and reports the best validation accuracy each would have
reached, and how many trials completed on each side.

    python benchmarks/vs_hydra_sweeper.py --trials 12 --epochs 12 --repeats 3 \\
        --json benchmarks/results/vs_hydra_sweeper.json
    python benchmarks/vs_hydra_sweeper.py --trials 20 --epochs 30 --repeats 2 --workers 2 \\
        --json benchmarks/results/vs_hydra_sweeper_2workers.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
from vs_plain_optuna import automl_command, digest, read_automl_study  # noqa: E402

VARIANTS = ("automl", "hydra-optuna-sweeper")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=12, help="trials per study")
    p.add_argument("--epochs", type=int, default=12, help="(max) epochs per trial")
    p.add_argument(
        "--target",
        type=float,
        default=None,
        help="validation accuracy to reach (default: the sweeper's best in each repeat)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of every variant (OMP_NUM_THREADS and automl's "
        "trainer.num_threads); 0 leaves torch's default. Default 1: on a shared 2-core "
        "machine two threads per process made trial times swing tenfold with other load",
    )
    p.add_argument("--workers", type=int, default=1, help="automl workers / sweeper jobs")
    p.add_argument(
        "--explain",
        action="store_true",
        help="retrain automl's pruned trials of a repeat that missed the target to full length",
    )
    p.add_argument(
        "--report", type=Path, default=None, help="print the path to the target of a results file"
    )
    p.add_argument(
        "--automl-args",
        default="",
        help="extra overrides for automl's command, e.g. 'sweep.enqueue_defaults=false'",
    )
    p.add_argument(
        "--sweeper-from",
        type=Path,
        default=None,
        help="take the sweeper's runs (and so the targets) of each repeat from this results "
        "file instead of running it again (same --trials, --epochs and --workers)",
    )
    c.common_args(p)
    args = p.parse_args(argv)
    if args.trials < 1 or args.epochs < 1 or args.repeats < 1 or args.workers < 1:
        p.error("--trials, --epochs, --repeats and --workers must be at least 1")
    if args.target is not None and not 0.0 < args.target <= 1.0:
        p.error("--target must be an accuracy in (0, 1]")
    return args


def time_to_reach(trials: list[dict[str, Any]], launched: float, target: float) -> float | None:
    """Seconds from launch to the first completed trial with value >= target (None: never)."""
    hits = [
        t["complete"]
        for t in trials
        if t["state"] == "COMPLETE" and t["value"] is not None and t["value"] >= target - 1e-9
    ]
    return min(hits) - launched if hits else None


def path_to_target(row: dict[str, Any]) -> dict[str, Any]:
    """How a run got to its repeat's target: the first trial (in completion order) at or above
    it, how many trials had finished by then and how many epochs they had run."""
    target, t0 = row["target"], row["launched"]
    done = sorted((t for t in row["trials"] if t.get("complete")), key=lambda t: t["complete"])
    epochs = 0
    for i, t in enumerate(done, start=1):
        epochs += int(t.get("epochs") or 0)
        if t["state"] == "COMPLETE" and t["value"] is not None and t["value"] >= target - 1e-9:
            return {"trial": t["number"], "finished_by_then": i, "epochs_by_then": epochs,
                    "seconds": t["complete"] - t0}  # fmt: skip
    return {"trial": None, "finished_by_then": len(done), "epochs_by_then": epochs,
            "seconds": None}  # fmt: skip


def report(path: Path) -> None:
    """Print, per repeat, each side's path to the target from a results file."""
    result = json.loads(path.read_text())
    rows = []
    for run in result["runs"]:
        p = path_to_target(run)
        first = [t["start"] for t in run["trials"] if t.get("start")]
        rows.append([
            str(run["repeat"]), run["variant"], str(p["trial"]), str(p["finished_by_then"]),
            str(p["epochs_by_then"]), "-" if p["seconds"] is None else f"{p['seconds']:.1f}",
            f"{min(first) - run['launched']:.1f}" if first else "-",
            f"{run['load_start'][0]:.1f}",
        ])  # fmt: skip
    c.print_table(
        f"path to the target ({path.name})",
        ["repeat", "variant", "trial that reached it", "trials finished by then",
         "epochs run by then", "s to target", "first trial started (s)", "load at start"],
        rows,
    )  # fmt: skip


def run_sweeper(rep: int, args: argparse.Namespace, py: Path, data: Path) -> dict[str, Any]:
    work = args.work / "vs_hydra_sweeper" / f"rep{rep}" / "sweeper"
    c.fresh_dir(work)
    log = work / "trials.jsonl"
    log.unlink(missing_ok=True)
    cmd = [
        str(py),
        str(c.PEERS_DIR / "hydra_cnn.py"),
        "-m",
        f"data={data}",
        f"log={log}",
        f"epochs={args.epochs}",
        f"seed={rep}",
        f"hydra.sweeper.n_trials={args.trials}",
        f"hydra.sweep.dir={work / 'multirun'}",
    ]
    if args.workers > 1:  # N jobs at a time, in N processes
        cmd += [
            "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={args.workers}",
            f"hydra.sweeper.n_jobs={args.workers}",
        ]
    timed = c.run_timed(cmd, log=work / "log.txt", extra_env=c.thread_env(args.threads))
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    trials = [
        {"number": t["number"], "state": "COMPLETE", "value": t["value"], "epochs": t["epochs"]}
        | {"complete": t["complete"], "test_acc": t["test_acc"], "params": t["params"]}
        for t in lines
    ]
    best = max(trials, key=lambda t: t["value"]) if trials else None
    return {
        "command": shlex.join(cmd),
        "launched": timed.started_at,
        **timed.as_dict(),
        "best_value": best["value"] if best else None,
        "test_acc": best["test_acc"] if best else None,
        "best_params": best["params"] if best else None,
        "trials": trials,
    }


def run_automl(rep: int, args: argparse.Namespace) -> dict[str, Any]:
    work = args.work / "vs_hydra_sweeper" / f"rep{rep}" / "automl"
    c.fresh_dir(work)
    study = f"bench-hydra-rep{rep}-{time.time_ns()}"
    cmd = automl_command(work, study, args.trials, args.epochs, rep, args.threads, args.workers)
    cmd += shlex.split(args.automl_args)
    timed = c.run_timed(cmd, log=work / "log.txt", extra_env=c.thread_env(args.threads))
    out = read_automl_study(work, study)
    return {"command": shlex.join(cmd), "launched": timed.started_at, **timed.as_dict(), **out}


def explain_miss(row: dict[str, Any], rep: int, target: float, args) -> dict[str, Any]:
    """Why automl missed ``target`` in a repeat: its pruned trials retrained to full length.

    Each pruned trial is trained again in this process with its configuration and its training
    seed (``trainer.seed`` + its number), for ``--epochs`` epochs and no pruning; its values up
    to the pruned epoch must match the study's (checked and reported).
    """
    from omegaconf import OmegaConf

    from automl.core.registry import discover_data, discover_models
    from automl.data import load_dataset
    from automl.study.config import TrainerConfig
    from automl.study.plan import trial_config
    from automl.study.train import fit

    plugin = discover_models().get("cnn")
    data_plugin = discover_data().get("digits")
    dataset = load_dataset(data_plugin, data_plugin.config())
    trainer = TrainerConfig(max_epochs=args.epochs, seed=rep, num_threads=args.threads)
    base = OmegaConf.structured(plugin.config)
    out: list[dict[str, Any]] = []
    for t in row["trials"]:
        if t["state"] != "PRUNED":
            continue
        values: dict[int, float] = {}

        def report(step: int, value: float, values=values) -> bool:
            values[step] = value
            return False

        cfg = OmegaConf.to_object(trial_config(base, t["params"]))
        result = fit(plugin, cfg, dataset, trainer, report=report, seed=rep + t["number"])
        seen = t.get("intermediate") or {}
        same = all(abs(values.get(int(k), -1) - v) < 1e-9 for k, v in seen.items())
        out.append(
            {
                "number": t["number"],
                "pruned_after": len(seen),
                "value_when_pruned": max(seen.values()) if seen else None,
                "full_length_best": result.value,
                "would_reach_target": result.value >= target - 1e-9,
                "same_run_until_pruned": same,
            }
        )
        print(
            f"    pruned #{t['number']} after {len(seen)} epochs: full length would reach "
            f"{result.value:.4f} (target {target:.4f}); identical until pruned: {same}",
            flush=True,
        )
    return {
        "pruned_retrained": out,
        "would_have_won": [x["number"] for x in out if x["would_reach_target"]],
        "n_complete": sum(t["state"] == "COMPLETE" for t in row["trials"]),
    }


def _stored_sweeper_runs(args: argparse.Namespace) -> dict[int, dict[str, Any]]:
    """The sweeper's runs per repeat from ``--sweeper-from`` (empty without it)."""
    if args.sweeper_from is None:
        return {}
    result = json.loads(args.sweeper_from.read_text())
    want = {"trials": args.trials, "epochs": args.epochs, "workers": args.workers}
    got = {k: result["settings"].get(k, 1 if k == "workers" else None) for k in want}
    runs = {r["repeat"]: r for r in result["runs"] if r["variant"] == "hydra-optuna-sweeper"}
    if got != want or set(range(args.repeats)) - set(runs):
        raise SystemExit(
            f"--sweeper-from {args.sweeper_from}: it holds {got} for repeats {sorted(runs)}; "
            f"pass the same --trials, --epochs, --workers and at most {len(runs)} --repeats"
        )
    return runs


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.report is not None:
        report(args.report)
        return {}
    env = c.peer_env("hydra-optuna")
    if args.print_env_commands:
        for cmd in c.env_commands(env, args.env_root):
            print(shlex.join(cmd))
        return {}
    py = c.ensure_env(env, args.env_root)
    data = args.work / "vs_hydra_sweeper" / "digits.npz"
    split = c.export_split("digits", data)
    stored = _stored_sweeper_runs(args)
    runs: list[dict[str, Any]] = []
    for rep in range(args.repeats):
        pair: dict[str, dict[str, Any]] = {}
        # Alternate which side goes first, so drift in the machine's load hits both.
        for name in VARIANTS if rep % 2 == 0 else VARIANTS[::-1]:
            if name == "automl":
                pair[name] = run_automl(rep, args)
            else:
                pair[name] = stored[rep] if stored else run_sweeper(rep, args, py, data)
        target = (
            args.target if args.target is not None else pair["hydra-optuna-sweeper"]["best_value"]
        )
        for name, row in pair.items():
            row.update(variant=name, repeat=rep, target=target, **digest(row))
            row["time_to_target_s"] = time_to_reach(row["trials"], row["launched"], target)
            row["path_to_target"] = path_to_target(row)
            print(
                f"  rep {rep} {name:<21} {row['wall_s']:6.1f} s  best {row['best_value']}  "
                f"target {target}  reached after {row['time_to_target_s']}",
                flush=True,
            )
            runs.append(row)
        a, s = pair["automl"]["time_to_target_s"], pair["hydra-optuna-sweeper"]["time_to_target_s"]
        pair["automl"]["ratio_to_sweeper"] = a / s if a is not None and s else None
        if args.explain and a is None:
            pair["automl"]["explain"] = explain_miss(pair["automl"], rep, target, args)
    table: dict[str, dict[str, Any]] = {}
    for name in VARIANTS:
        mine = [r for r in runs if r["variant"] == name]
        table[name] = {
            key: c.summary([r.get(key) for r in mine])
            for key in (
                "wall_s",
                "n_pruned",
                "epochs",
                "best_value",
                "test_acc",
                "time_to_target_s",
                "ratio_to_sweeper",
            )
        }
        table[name]["reached"] = sum(r["time_to_target_s"] is not None for r in mine)
        # The 1-minute load average at the start and the end of each run, over all runs.
        table[name]["load"] = c.summary([x for r in mine for x in (r["load_start"][0],
                                                                  r["load_end"][0])])  # fmt: skip
    rows = [
        [
            name,
            c.fmt(t["wall_s"], 1),
            c.fmt(t["epochs"], 0),
            c.fmt(t["best_value"], 3),
            c.fmt(t["test_acc"], 3),
            f"{t['reached']}/{args.repeats}",
            c.fmt(t["time_to_target_s"], 1),
            c.fmt(t["ratio_to_sweeper"], 2) if name == "automl" else "1",
            c.fmt(t["load"], 1),
        ]
        for name, t in table.items()
    ]
    target_text = f"{args.target}" if args.target is not None else "the sweeper's best val acc"
    text = c.print_table(
        f"CNN on digits: {args.trials} trials x {args.epochs} epochs, {args.workers} "
        f"worker(s)/job(s), {args.repeats} repeats, "
        f"target = {target_text} (median [min-max])",
        [
            "variant",
            "wall s",
            "epochs run",
            "best val acc",
            "its test acc",
            "reached target",
            "s to target",
            "time / sweeper's",
            "load (1-min, start/end)",
        ],
        rows,
    )
    result = {
        "benchmark": "vs_hydra_sweeper",
        "settings": {
            "trials": args.trials,
            "epochs": args.epochs,
            "threads": args.threads,
            "repeats": args.repeats,
            "workers": args.workers,
            "target": args.target,
            "automl_args": args.automl_args,
            "sweeper_from": str(args.sweeper_from) if args.sweeper_from else None,
            "data": split,
        },
        "peer_env_commands": [shlex.join(x) for x in c.env_commands(env, args.env_root)],
        "versions": {
            "automl": c.local_versions(["automl", "torch", "optuna", "pytorch-lightning"]),
            "hydra-optuna": c.env_versions(py, env.packages),
        },
        "machine": c.machine_info(),
        "summary": table,
        "table_markdown": text,
        "runs": runs,
    }
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
