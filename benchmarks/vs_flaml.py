"""automl's XGBoost sweep vs FLAML on small tabular sets, with the same time budget.

For each data set (default breast_cancer and wine) and repeat, interleaved:

- ``automl``: ``python -m automl model=xgboost data=<set> sweep=optuna sweep.timeout=T
  sweep.n_trials=100000`` (TPE, median pruner, seed = repeat). It trains on automl's training
  split (60 %), selects on the validation split (20 %) and tests the best trial once on the
  test split (20 %).
- ``flaml-xgboost``: FLAML ``AutoML(time_budget=T, metric="accuracy",
  estimator_list=["xgboost"])``; ``flaml-default``: the same with FLAML's default estimator
  list. FLAML gets the training and validation splits together (the same 80 %) and validates
  internally as it chooses; its final model (retrained on all 80 %) is tested on the same
  test split.

Reported: best validation accuracy (each side's own validation: not the same samples, so
compare test accuracy across tools), test accuracy, trials completed (automl: complete +
pruned), wall time.

    python benchmarks/vs_flaml.py --budget 30 --repeats 3 --json benchmarks/results/vs_flaml.json
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

VARIANTS = ("automl", "flaml-xgboost", "flaml-default")
DATA = ("breast_cancer", "wine")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=60.0, help="seconds of search per run")
    p.add_argument("--data", default=",".join(DATA), help="comma-separated data sets")
    p.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated subset of {', '.join(VARIANTS)}",
    )
    p.add_argument(
        "--max-trials", type=int, default=100000, help="automl's sweep.n_trials (a cap only)"
    )
    p.add_argument(
        "--flaml-n-jobs",
        type=int,
        default=1,
        help="FLAML's n_jobs (default 1: automl's XGBoost trials use one thread on data this "
        "small; FLAML's own default, -1, uses every core)",
    )
    c.common_args(p)
    args = p.parse_args(argv)
    args.data = [d.strip() for d in args.data.split(",") if d.strip()]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        p.error(f"unknown variants {sorted(unknown)}; choose from {', '.join(VARIANTS)}")
    if args.budget <= 0 or args.repeats < 1:
        p.error("--budget must be positive and --repeats at least 1")
    return args


def run_automl(data: str, rep: int, args: argparse.Namespace) -> dict[str, Any]:
    import optuna

    work = args.work / "vs_flaml" / data / f"rep{rep}" / "automl"
    c.fresh_dir(work)
    study = f"bench-xgb-{data}-rep{rep}-{time.time_ns()}"
    cmd = [
        sys.executable,
        "-m",
        "automl",
        "model=xgboost",
        f"data={data}",
        "sweep=optuna",
        f"sweep.timeout={args.budget}",
        f"sweep.n_trials={args.max_trials}",
        f"sweep.seed={rep}",
        f"sweep.study_name={study}",
        "sweep.live=false",
        f"hydra.run.dir={work}",
    ]
    timed = c.run_timed(cmd, log=work / "log.txt")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.load_study(study_name=study, storage=f"sqlite:///{work / 'study.db'}")
    states = [t.state.name for t in s.trials]
    done = [t for t in s.trials if t.state.name == "COMPLETE"]
    return {
        "command": shlex.join(cmd),
        **timed.as_dict(),
        "best_value": s.best_value if done else None,
        "test_acc": s.user_attrs.get("best_test_metrics", {}).get("test_acc"),
        "n_trials": states.count("COMPLETE") + states.count("PRUNED"),
        "n_complete": states.count("COMPLETE"),
        "n_pruned": states.count("PRUNED"),
        "best_params": s.best_trial.params if done else None,
        "validation": "automl's validation split (20 %), fixed holdout",
    }


def run_flaml(
    variant: str, data: str, npz: Path, rep: int, args: argparse.Namespace, py: Path
) -> dict[str, Any]:
    work = args.work / "vs_flaml" / data / f"rep{rep}" / variant
    c.fresh_dir(work)
    out_file, log = work / "result.json", work / "flaml.log"
    log.unlink(missing_ok=True)
    cmd = [
        str(py),
        str(c.PEERS_DIR / "flaml_run.py"),
        "--data",
        str(npz),
        "--budget",
        str(args.budget),
        "--estimators",
        "xgboost" if variant == "flaml-xgboost" else "auto",
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
    out["validation"] = f"FLAML's own ({out.get('eval_method')}) on train+val (80 %)"
    return {"command": shlex.join(cmd), **timed.as_dict(), **out}


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    env = c.peer_env("flaml")
    if args.print_env_commands:
        for cmd in c.env_commands(env, args.env_root):
            print(shlex.join(cmd))
        return {}
    py = None
    if any(v != "automl" for v in args.variants):
        py = c.ensure_env(env, args.env_root)
    splits, runs = {}, []
    for data in args.data:
        npz = args.work / "vs_flaml" / f"{data}.npz"
        splits[data] = c.export_split(data, npz)
        for rep in range(args.repeats):
            k = rep % len(args.variants)
            for variant in args.variants[k:] + args.variants[:k]:
                if variant == "automl":
                    row = run_automl(data, rep, args)
                else:
                    row = run_flaml(variant, data, npz, rep, args, py)
                row.update(variant=variant, data=data, repeat=rep)
                print(
                    f"  {data} rep {rep} {variant:<14} {row['wall_s']:6.1f} s  trials "
                    f"{row['n_trials']:>5}  val {row['best_value']:.4f}  "
                    f"test {row['test_acc']:.4f}",
                    flush=True,
                )
                runs.append(row)
    table: dict[str, dict[str, Any]] = {}
    rows = []
    for data in args.data:
        for variant in args.variants:
            mine = [r for r in runs if r["variant"] == variant and r["data"] == data]
            t = {
                key: c.summary([r[key] for r in mine])
                for key in ("wall_s", "n_trials", "best_value", "test_acc")
            }
            table[f"{data}/{variant}"] = t
            rows.append(
                [
                    data,
                    variant,
                    c.fmt(t["best_value"], 4),
                    c.fmt(t["test_acc"], 4),
                    c.fmt(t["n_trials"], 0),
                    c.fmt(t["wall_s"], 1),
                ]
            )
    text = c.print_table(
        f"XGBoost / FLAML, time budget {args.budget:g} s, {args.repeats} repeats "
        "(median [min-max])",
        ["data", "variant", "best val acc (own validation)", "test acc", "trials", "wall s"],
        rows,
    )
    versions = {"automl": c.local_versions(["automl", "optuna", "xgboost", "scikit-learn"])}
    if py is not None:
        versions["flaml"] = c.env_versions(py, env.packages)
    result = {
        "benchmark": "vs_flaml",
        "settings": {
            "budget_s": args.budget,
            "repeats": args.repeats,
            "data": splits,
            "variants": args.variants,
            "automl_max_trials": args.max_trials,
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
