"""``model=auto`` (one study across model families) vs FLAML's default estimator list.

For each data set, repeat (seed) and time budget T, interleaved:

- ``auto``: ``python -m automl model=auto data=<set> sweep.timeout=T sweep.n_trials=100000
  sweep.seed=<repeat> trainer.num_threads=1``: every installed plugin that fits the data,
  defaults first, TPE, the median pruner within each family, with model=auto's default
  protocol on small data: one 20 % validation split when T is below 120 s, otherwise each
  trial judged on the mean of 5 folds of the 80 % non-test rows and the chosen configuration
  refit on all of them (``automl.study.run.AUTO_FOLDS_MIN_TIMEOUT``). Runs before commit 98c328f
  used the 5 folds at every budget.
- ``auto-holdout``: the same with ``data.folds=0``: trials train on 60 % and are judged on one
  20 % validation split at any budget.
- ``auto-folds``: the same with ``data.folds=5``: 5 folds and a refit at any budget (what
  ``auto`` meant at 30 s before 98c328f).
- ``auto-recheck``: ``auto`` with ``sweep.recheck_top=3``: after the search the top 3
  configurations are trained twice more with other seeds and the best mean is exported (the
  rechecks run after the budget, as the export does).
- ``flaml``: FLAML ``AutoML(time_budget=T)`` with its default estimator list, given the same
  80 % non-test rows (it validates internally and retrains the winner on them).

Every side is tested once on the same 20 % test rows (automl's seeded stratified split):
accuracy for classification, RMSE for regression (diabetes). Data: breast cancer, wine,
diabetes, and ``make_classification`` tables (``synth3``: 3 classes, 2,000 rows, 20 features;
``synth5``: 5 classes, 3,000 rows, 20 features), written as npz files.

    nice -n 10 python benchmarks/auto_vs_flaml.py --budget 30 --repeats 3 \\
        --variants auto,flaml --json benchmarks/results/auto_vs_flaml_30.json

The time budget counts the search only (automl: it stops starting trials T seconds after the
first, not counting Python's start-up, and lets the running trial finish; FLAML: its
``time_budget``); wall time and trials completed per family are reported.
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

VARIANTS = ("auto", "auto-holdout", "auto-folds", "auto-recheck", "flaml")
DEFAULT_VARIANTS = ("auto", "auto-holdout", "flaml")
# What each automl variant adds to the command line (the protocol it fixes).
VARIANT_OVERRIDES = {
    "auto": [],
    "auto-holdout": ["data.folds=0"],
    "auto-folds": ["data.folds=5"],
    # model=auto's default protocol, then the top 3 trained twice more and chosen on the mean.
    "auto-recheck": ["sweep.recheck_top=3"],
}
DATA = ("breast_cancer", "wine", "diabetes", "synth3", "synth5")
SYNTH = {"synth3": (2000, 3, 1), "synth5": (3000, 5, 2)}  # rows, classes, generator seed


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=30.0, help="seconds of search per run")
    p.add_argument("--data", default=",".join(DATA), help="comma-separated data sets")
    p.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated variants of {', '.join(VARIANTS)}",
    )
    p.add_argument("--flaml-n-jobs", type=int, default=1, help="FLAML's n_jobs (default 1)")
    c.common_args(p)
    args = p.parse_args(argv)
    args.data = [d.strip() for d in args.data.split(",") if d.strip()]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if set(args.variants) - set(VARIANTS) or set(args.data) - set(DATA):
        p.error(f"variants: {', '.join(VARIANTS)}; data: {', '.join(DATA)}")
    return args


def _synth_file(name: str, work: Path) -> Path:
    """A ``make_classification`` table as an npz file (``data=npz data.path=...``)."""
    import numpy as np
    from sklearn.datasets import make_classification

    rows, classes, seed = SYNTH[name]
    x, y = make_classification(
        n_samples=rows,
        n_features=20,
        n_informative=10,
        n_redundant=4,
        n_classes=classes,
        n_clusters_per_class=2,
        flip_y=0.03,
        random_state=seed,
    )
    path = work / "auto_vs_flaml" / f"{name}_source.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.int64))
    return path


def _data_args(data: str, work: Path) -> list[str]:
    if data in SYNTH:
        return ["data=npz", f"data.path={_synth_file(data, work)}", "data.task=classification"]
    return [f"data={data}"]


def export_split(data: str, work: Path, path: Path) -> dict[str, Any]:
    """automl's own split of ``data`` (seeded, stratified 60/20/20, standardized), as npz."""
    if data in SYNTH:
        synth = str(_synth_file(data, work))
        return c.export_split(data, path, "npz", {"path": synth, "task": "classification"})
    return c.export_split(data, path)


def run_automl(variant: str, data: str, rep: int, args: argparse.Namespace) -> dict[str, Any]:
    import optuna

    work = args.work / "auto_vs_flaml" / data / f"b{args.budget:g}" / f"rep{rep}" / variant
    c.fresh_dir(work)
    study = f"bench-auto-{data}-rep{rep}-{time.time_ns()}"
    cmd = [
        sys.executable,
        "-m",
        "automl",
        "model=auto",
        *_data_args(data, args.work),
        f"sweep.timeout={args.budget}",
        "sweep.n_trials=100000",
        f"sweep.seed={rep}",
        f"sweep.study_name={study}",
        "sweep.live=false",
        "sweep.report=false",
        # One thread, as FLAML's n_jobs=1: the same compute on both sides.
        "trainer.num_threads=1",
        f"hydra.run.dir={work}",
        *VARIANT_OVERRIDES[variant],
    ]
    timed = c.run_timed(cmd, log=work / "log.txt")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.load_study(study_name=study, storage=f"sqlite:///{work / 'study.db'}")
    families: dict[str, dict[str, int]] = {}
    for t in s.trials:
        fam = families.setdefault(str(t.params.get("family")), {})
        fam[t.state.name.lower()] = fam.get(t.state.name.lower(), 0) + 1
    done = [t for t in s.trials if t.state.name == "COMPLETE"]
    test = s.user_attrs.get("best_test_metrics", {})
    best = s.best_trial if done else None
    return {
        "command": shlex.join(cmd),
        **timed.as_dict(),
        "best_value": s.best_value if done else None,
        "test_acc": test.get("test_acc"),
        "test_rmse": test.get("test_rmse"),
        "n_trials": sum(t.state.name in ("COMPLETE", "PRUNED") for t in s.trials),
        "family_trials": families,
        "best_family": best.params.get("family") if best else None,
        "best_params": best.params if best else None,
    }


def run_flaml(
    data: str, npz: Path, task: str, rep: int, args: argparse.Namespace, py: Path
) -> dict[str, Any]:
    work = args.work / "auto_vs_flaml" / data / f"b{args.budget:g}" / f"rep{rep}" / "flaml"
    c.fresh_dir(work)
    out_file, log = work / "result.json", work / "flaml.log"
    cmd = [
        str(py),
        str(c.PEERS_DIR / "flaml_run.py"),
        "--data",
        str(npz),
        "--budget",
        str(args.budget),
        "--task",
        task,
        "--seed",
        str(rep),
        "--n-jobs",
        str(args.flaml_n_jobs),
        "--log",
        str(log),
        "--out",
        str(out_file),
    ]
    timed = c.run_timed(cmd, log=work / "log.txt")
    out = json.loads(out_file.read_text())
    return {"command": shlex.join(cmd), **timed.as_dict(), **out}


def _score(row: dict[str, Any], task: str) -> float | None:
    return row.get("test_acc") if task == "classification" else row.get("test_rmse")


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    env = c.peer_env("flaml")
    if args.print_env_commands:
        for cmd in c.env_commands(env, args.env_root):
            print(shlex.join(cmd))
        return {}
    py = c.ensure_env(env, args.env_root) if "flaml" in args.variants else None
    splits, runs = {}, []
    for data in args.data:
        npz = args.work / "auto_vs_flaml" / f"{data}.npz"
        splits[data] = export_split(data, args.work, npz)
        task = splits[data]["task"]
        for rep in range(args.repeats):
            k = rep % len(args.variants)
            for variant in args.variants[k:] + args.variants[:k]:
                if variant == "flaml":
                    assert py is not None
                    row = run_flaml(data, npz, task, rep, args, py)
                else:
                    row = run_automl(variant, data, rep, args)
                row.update(variant=variant, data=data, repeat=rep, task=task)
                score = _score(row, task)
                print(
                    f"  {data} rep {rep} {variant:<13} {row['wall_s']:6.1f} s  trials "
                    f"{row['n_trials']:>5}  test {'-' if score is None else f'{score:.4f}'}  "
                    f"{row.get('family_trials') or row.get('estimator_trials')}",
                    flush=True,
                )
                runs.append(row)
    table: dict[str, dict[str, Any]] = {}
    rows = []
    for data in args.data:
        task = splits[data]["task"]
        metric = "test acc" if task == "classification" else "test RMSE"
        for variant in args.variants:
            mine = [r for r in runs if r["variant"] == variant and r["data"] == data]
            t = {
                "test": c.summary([_score(r, task) for r in mine]),
                "n_trials": c.summary([r["n_trials"] for r in mine]),
                "wall_s": c.summary([r["wall_s"] for r in mine]),
            }
            table[f"{data}/{variant}"] = t
            rows.append(
                [
                    data,
                    variant,
                    f"{metric} {c.fmt(t['test'], 4)}",
                    c.fmt(t["n_trials"], 0),
                    c.fmt(t["wall_s"], 1),
                ]
            )
    text = c.print_table(
        f"model=auto / FLAML, time budget {args.budget:g} s, {args.repeats} seeds "
        "(median [min-max])",
        ["data", "variant", "test metric", "trials", "wall s"],
        rows,
    )
    versions = {"automl": c.local_versions(["automl", "optuna", "xgboost", "scikit-learn"])}
    if py is not None:
        versions["flaml"] = c.env_versions(py, env.packages)
    result = {
        "benchmark": "auto_vs_flaml",
        "settings": {
            "budget_s": args.budget,
            "repeats": args.repeats,
            "data": splits,
            "variants": args.variants,
            "flaml_n_jobs": args.flaml_n_jobs,
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
