"""automl vs the Optuna study a researcher writes by hand, on the CNN over digits.

Three variants of the same study (the CNN plugin's search space, TPE seeded with the repeat
number, median pruner with automl's defaults, ``--trials`` trials of at most ``--epochs``
epochs, the same digits split), each a separate process timed from start to exit:

- ``automl``: ``python -m automl model=cnn data=digits sweep=optuna ...`` (this interpreter);
- ``optuna+lightning``: ``peers/plain_optuna.py --loop lightning``: a LightningModule with
  optuna-integration's ``PyTorchLightningPruningCallback`` (peer env ``optuna-lightning``);
- ``optuna+torch``: ``peers/plain_optuna.py --loop torch``: a plain PyTorch loop with
  ``trial.report`` / ``trial.should_prune`` (same peer env).

Variants run interleaved within each repeat, so load changes hit all of them. Reported: wall
time, trials pruned, total epochs run, the best validation accuracy and the test accuracy of
that trial's best-epoch weights.

    python benchmarks/vs_plain_optuna.py --trials 12 --epochs 12 --repeats 3 \\
        --json benchmarks/results/vs_plain_optuna.json
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

VARIANTS = ("automl", "optuna+lightning", "optuna+torch")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=12, help="trials per study")
    p.add_argument("--epochs", type=int, default=12, help="max epochs per trial")
    p.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated subset of {', '.join(VARIANTS)}",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of every variant (OMP_NUM_THREADS and automl's "
        "trainer.num_threads); 0 leaves torch's default. Default 1: on a shared 2-core "
        "machine two threads per process made trial times swing tenfold with other load",
    )
    p.add_argument(
        "--report", type=Path, default=None, help="re-render the table of a results file; no runs"
    )
    c.common_args(p)
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    if args.trials < 1 or args.epochs < 1 or args.repeats < 1:
        p.error("--trials, --epochs and --repeats must be at least 1")
    return args


def automl_command(
    run_dir: Path,
    study: str,
    trials: int,
    epochs: int,
    seed: int,
    threads: int = 0,
    workers: int = 1,
) -> list[str]:
    """The automl CLI call of one repeat (own run directory and study name)."""
    extra = [f"trainer.num_threads={threads}"] if threads > 0 else []
    if workers > 1:
        extra.append(f"sweep.workers={workers}")
    return [
        sys.executable,
        "-m",
        "automl",
        "model=cnn",
        "data=digits",
        "sweep=optuna",
        f"sweep.n_trials={trials}",
        f"sweep.seed={seed}",
        f"sweep.study_name={study}",
        "sweep.live=false",
        f"trainer.max_epochs={epochs}",
        f"trainer.seed={seed}",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]


def read_automl_study(run_dir: Path, study: str) -> dict[str, Any]:
    """Trials and the test metrics automl stored in the run's SQLite study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage: Any = f"sqlite:///{run_dir / 'study.db'}"
    if (run_dir / "study.jsonl").exists():  # several workers: the journal file
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(str(run_dir / "study.jsonl")))
    s = optuna.load_study(study_name=study, storage=storage)
    trials = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "epochs": t.user_attrs.get("epochs", 0),
            "start": t.datetime_start.timestamp() if t.datetime_start else None,
            "complete": t.datetime_complete.timestamp() if t.datetime_complete else None,
            "params": t.params,
            "intermediate": {int(k): v for k, v in t.intermediate_values.items()},
        }
        for t in s.trials
    ]
    done = [t for t in s.trials if t.state.name == "COMPLETE"]
    test = s.user_attrs.get("best_test_metrics", {})
    return {
        "best_value": max(t.value for t in done) if done else None,
        "test_acc": test.get("test_acc"),
        "best_params": s.best_trial.params if done else None,
        "trials": trials,
    }


def digest(out: dict[str, Any]) -> dict[str, Any]:
    """Counts over a study's trials."""
    trials = out["trials"]
    return {
        "n_complete": sum(t["state"] == "COMPLETE" for t in trials),
        "n_pruned": sum(t["state"] == "PRUNED" for t in trials),
        "n_failed": sum(t["state"] == "FAIL" for t in trials),
        "epochs": sum(int(t["epochs"] or 0) for t in trials),
    }


def run_variant(
    name: str, rep: int, args: argparse.Namespace, peer_py: Path | None, data: Path
) -> dict[str, Any]:
    """One study of one variant; returns timing, counts and accuracies."""
    seed = rep
    work = args.work / "vs_plain_optuna" / f"rep{rep}" / name.replace("+", "_")
    c.fresh_dir(work)
    if name == "automl":
        study = f"bench-cnn-rep{rep}-{time.time_ns()}"
        cmd = automl_command(work, study, args.trials, args.epochs, seed, args.threads)
        timed = c.run_timed(cmd, log=work / "log.txt", extra_env=c.thread_env(args.threads))
        out = read_automl_study(work, study)
    else:
        out_file = work / "result.json"
        cmd = [
            str(peer_py),
            str(c.PEERS_DIR / "plain_optuna.py"),
            "--loop",
            name.split("+")[1],
            "--data",
            str(data),
            "--trials",
            str(args.trials),
            "--epochs",
            str(args.epochs),
            "--seed",
            str(seed),
            "--out",
            str(out_file),
        ]
        timed = c.run_timed(cmd, log=work / "log.txt", extra_env=c.thread_env(args.threads))
        out = json.loads(out_file.read_text())
    row = {"variant": name, "repeat": rep, "command": shlex.join(cmd), **timed.as_dict()}
    row.update(digest(out))
    row.update({k: out[k] for k in ("best_value", "test_acc", "best_params", "trials")})
    print(
        f"  rep {rep} {name:<17} {timed.wall_s:6.1f} s  pruned {row['n_pruned']:>2}  "
        f"epochs {row['epochs']:>4}  val {row['best_value']}  test {row['test_acc']}",
        flush=True,
    )
    return row


def summarize(
    runs: list[dict[str, Any]], variants: list[str], trials: int, epochs: int, repeats: int
) -> tuple[dict[str, Any], str]:
    """Per-variant statistics and the Markdown table.

    ``study_s`` runs from the first trial's start to the last trial's end (process start-up,
    data loading and the final test are outside it); ``x automl`` is the variant's wall time
    over automl's in the same repeat (the runs of a repeat are back to back, so this ratio is
    less exposed to the machine's load drifting between repeats than the raw times).
    """
    for r in runs:
        times = [t for t in r["trials"] if t["start"] is not None and t["complete"] is not None]
        r["study_s"] = (
            max(t["complete"] for t in times) - min(t["start"] for t in times) if times else None
        )
        ref = [x for x in runs if x["variant"] == "automl" and x["repeat"] == r["repeat"]]
        r["wall_vs_automl"] = r["wall_s"] / ref[0]["wall_s"] if ref else None
    table: dict[str, dict[str, Any]] = {}
    for name in variants:
        mine = [r for r in runs if r["variant"] == name]
        table[name] = {
            key: c.summary([r[key] for r in mine])
            for key in (
                "wall_s",
                "study_s",
                "wall_vs_automl",
                "n_pruned",
                "epochs",
                "best_value",
                "test_acc",
            )
        }
    rows = [
        [
            name,
            c.fmt(t["wall_s"], 1),
            c.fmt(t["study_s"], 1),
            c.fmt(t["wall_vs_automl"], 2),
            c.fmt(t["n_pruned"], 0),
            c.fmt(t["epochs"], 0),
            c.fmt(t["best_value"], 3),
            c.fmt(t["test_acc"], 3),
        ]
        for name, t in table.items()
    ]
    text = c.print_table(
        f"CNN on digits: {trials} trials x {epochs} epochs, {repeats} repeats (median [min-max])",
        [
            "variant",
            "wall s",
            "study s",
            "wall / automl's",
            "pruned",
            "epochs run",
            "best val acc",
            "its test acc",
        ],
        rows,
    )
    return table, text


def report(path: Path) -> dict[str, Any]:
    """Recompute the summary and table of a results file (no runs)."""
    result = json.loads(path.read_text())
    st = result["settings"]
    result["summary"], result["table_markdown"] = summarize(
        result["runs"], st["variants"], st["trials"], st["epochs"], st["repeats"]
    )
    c.write_json(path, result)
    return result


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.report is not None:
        return report(args.report)
    env = c.peer_env("optuna-lightning")
    if args.print_env_commands:
        for cmd in c.env_commands(env, args.env_root):
            print(shlex.join(cmd))
        return {}
    peer_py = None
    if any(v != "automl" for v in args.variants):
        peer_py = c.ensure_env(env, args.env_root)
    data = args.work / "vs_plain_optuna" / "digits.npz"
    split = c.export_split("digits", data)
    runs: list[dict[str, Any]] = []
    for rep in range(args.repeats):
        # Rotate the order each repeat so no variant always runs first (cold caches, drift).
        k = rep % len(args.variants)
        order = args.variants[k:] + args.variants[:k]
        for name in order:
            runs.append(run_variant(name, rep, args, peer_py, data))
    table, text = summarize(runs, args.variants, args.trials, args.epochs, args.repeats)
    versions = {"automl": c.local_versions(["automl", *env.packages])}
    if peer_py is not None:
        versions["optuna-lightning"] = c.env_versions(peer_py, env.packages)
    result = {
        "benchmark": "vs_plain_optuna",
        "settings": {
            "trials": args.trials,
            "epochs": args.epochs,
            "threads": args.threads,
            "repeats": args.repeats,
            "variants": args.variants,
            "data": split,
            "sampler": "TPE(seed=repeat, multivariate=True, n_startup_trials=5)",
            "pruner": "MedianPruner(n_startup_trials=4, n_warmup_steps=3)",
        },
        "peer_env_commands": [shlex.join(x) for x in c.env_commands(env, args.env_root)],
        "versions": versions,
        "machine": c.machine_info(),
        "summary": table,
        "table_markdown": text,
        "runs": runs,
    }
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
