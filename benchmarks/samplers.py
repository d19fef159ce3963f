"""Samplers compared at equal trial budgets on shipped recipes, several seeds each.

Every run is the command a user types (``python -m automl +recipe=R sweep.sampler=S
sweep.seed=K ...``) in a fresh run directory; the best validation metric comes from
``leaderboard.json`` (rank 1) and the test metric from ``best/metrics.json``. Only the
sampler and its seed change between runs of a recipe: the data split, the trials' training
seeds (``trainer.seed`` + trial number), the pruner and the budget are the recipe's.

Per recipe and sampler the table shows the median and the range over seeds of the best
validation metric, the test metric and the wall time, and the median difference to
``random`` (the baseline, measured in the same run). ``--jobs N`` runs N studies at once
(wall times then include the others' load); a run directory that holds a finished run is
read, not rerun, so an interrupted benchmark resumes.

    nice -n 10 python benchmarks/samplers.py --json benchmarks/results/samplers.json
    python benchmarks/samplers.py --recipes forest_breast_cancer --samplers tpe,random --seeds 2
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import fmt, fresh_dir, machine_info, print_table, summary, write_json  # noqa: E402

# recipe -> (validation metric, test metric, "max"/"min", reduced budget)
RECIPES: dict[str, tuple[str, str, str, int]] = {
    "xgboost_breast_cancer": ("val_acc", "test_acc", "max", 30),
    "forest_breast_cancer": ("val_acc", "test_acc", "max", 30),
    "xgboost_diabetes": ("val_rmse", "test_rmse", "min", 30),
    "mlp_digits": ("val_acc", "test_acc", "max", 20),
}
DEFAULT_RECIPES = ("xgboost_breast_cancer", "forest_breast_cancer", "xgboost_diabetes")
SAMPLERS = ("tpe", "gp", "cmaes", "qmc", "random")
BASELINE = "random"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--recipes",
        type=lambda s: s.split(","),
        default=list(DEFAULT_RECIPES),
        help=f"comma-separated recipes (known: {', '.join(RECIPES)})",
    )
    p.add_argument(
        "--samplers",
        type=lambda s: s.split(","),
        default=list(SAMPLERS),
        help="comma-separated sweep.sampler values (default: tpe,gp,cmaes,qmc,random)",
    )
    p.add_argument("--seeds", type=int, default=5, help="sweep.seed=0..N-1 per sampler")
    p.add_argument("--trials", type=int, default=None, help="trials per run (default: per recipe)")
    p.add_argument("--override", action="append", default=[], help="extra override for every run")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--work", type=Path, default=HERE / ".work" / "samplers", help="run dirs")
    args = p.parse_args(argv)
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        p.error(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    if args.seeds < 1:
        p.error("--seeds must be >= 1")
    if args.jobs < 1:
        p.error("--jobs must be >= 1")
    if args.trials is not None and args.trials < 1:
        p.error("--trials must be >= 1")
    if BASELINE not in args.samplers:
        p.error(f"--samplers must include the baseline {BASELINE}")
    return args


def command(recipe: str, sampler: str, seed: int, trials: int, run_dir: Path, extra: list[str]):
    return [
        sys.executable,
        "-m",
        "automl",
        f"+recipe={recipe}",
        f"sweep.sampler={sampler}",
        f"sweep.seed={seed}",
        f"sweep.n_trials={trials}",
        "sweep.live=false",
        f"hydra.run.dir={run_dir}",
        # A journal file: a report costs 0.35 ms there, 5 ms in SQLite (docs/benchmarks.md).
        f"sweep.storage={run_dir / 'study.jsonl'}",
        *extra,
    ]


def read_run(run_dir: Path, val_key: str, test_key: str) -> dict[str, Any]:
    """Best validation metric, test metric and trial counts of one finished run."""
    board = json.loads((run_dir / "leaderboard.json").read_text())
    best = next(t for t in board["trials"] if t.get("rank") == 1)
    metrics = json.loads((run_dir / "best" / "metrics.json").read_text())
    states = [t["state"] for t in board["trials"]]
    return {
        "val": float(best["metrics"][val_key]),
        "test": float(metrics["test"][test_key]),
        "best_trial": best["number"],
        "complete": states.count("COMPLETE"),
        "pruned": states.count("PRUNED"),
        "failed": states.count("FAIL"),
        "trial_s": sum(float(t.get("duration_s") or 0.0) for t in board["trials"]),
    }


def run_one(cmd: list[str], run_dir: Path, val_key: str, test_key: str) -> dict[str, Any]:
    """Run one study (or read the finished one already in ``run_dir``)."""
    done_file = run_dir / "stdout.txt"  # written only after the command succeeded
    if done_file.exists() and (run_dir / "best" / "metrics.json").exists():
        wall = json.loads((run_dir / "wall.json").read_text())["wall_s"]
        return {**read_run(run_dir, val_key, test_key), "wall_s": wall, "resumed": True}
    fresh_dir(run_dir)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"failed ({done.returncode}): {shlex.join(cmd)}\n{done.stderr[-2000:]}")
    (run_dir / "wall.json").write_text(json.dumps({"wall_s": wall}))
    done_file.write_text(done.stdout + done.stderr)
    return {**read_run(run_dir, val_key, test_key), "wall_s": wall}


def run_job(job: tuple[str, str, int, int, Path], extra: list[str]) -> dict[str, Any]:
    """One (recipe, sampler, seed) run, printed as it finishes."""
    recipe, sampler, seed, trials, run_dir = job
    val_key, test_key = RECIPES[recipe][:2]
    out = run_one(
        command(recipe, sampler, seed, trials, run_dir, extra), run_dir, val_key, test_key
    )
    print(
        f"{recipe} {sampler} seed={seed}: {val_key}={out['val']:.4f} "
        f"{test_key}={out['test']:.4f} wall={out['wall_s']:.1f}s "
        f"({out['complete']} complete, {out['pruned']} pruned)",
        flush=True,
    )
    return {"seed": seed, **out}


def median_delta(runs: list[dict], base: list[dict], key: str, sign: float) -> float:
    """Median over seeds of this sampler minus the baseline's median (positive = better)."""
    mine = statistics.median(r[key] for r in runs)
    return sign * (mine - statistics.median(r[key] for r in base))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, Any] = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "machine": machine_info(),
        "seeds": args.seeds,
        "jobs": args.jobs,
        "recipes": {},
    }
    tables = []
    # Every (recipe, sampler, seed) run, in one pool so --jobs spans recipes.
    jobs = [
        (
            recipe,
            sampler,
            seed,
            args.trials or RECIPES[recipe][3],
            args.work / recipe / sampler / f"seed{seed}",
        )
        for recipe in args.recipes
        for sampler in args.samplers
        for seed in range(args.seeds)
    ]
    with ThreadPoolExecutor(args.jobs) as pool:
        outs = list(pool.map(functools.partial(run_job, extra=args.override), jobs))
    for recipe in args.recipes:
        val_key, test_key, direction, budget = RECIPES[recipe]
        trials = args.trials or budget
        runs: dict[str, list[dict]] = {s: [] for s in args.samplers}
        for (job_recipe, sampler, _, _, _), out in zip(jobs, outs, strict=True):
            if job_recipe == recipe:
                runs[sampler].append(out)
        sign = 1.0 if direction == "max" else -1.0
        digits = 4 if direction == "max" else 2
        rows = []
        for sampler, rs in runs.items():
            rows.append(
                [
                    sampler,
                    fmt(summary([r["val"] for r in rs]), digits),
                    f"{median_delta(rs, runs[BASELINE], 'val', sign):+.{digits}f}",
                    fmt(summary([r["test"] for r in rs]), digits),
                    f"{median_delta(rs, runs[BASELINE], 'test', sign):+.{digits}f}",
                    fmt(summary([r["wall_s"] for r in rs]), 0),
                    f"{statistics.median(r['complete'] for r in rs):.0f}/"
                    f"{statistics.median(r['pruned'] for r in rs):.0f}",
                ]
            )
        header = [
            "sampler",
            f"best {val_key}",
            f"vs {BASELINE}",
            test_key,
            f"vs {BASELINE}",
            "wall s",
            "complete/pruned",
        ]
        title = f"{recipe}: {trials} trials, {args.seeds} seeds (median [min-max])"
        tables.append(print_table(title, header, rows))
        results["recipes"][recipe] = {
            "trials": trials,
            "direction": direction,
            "val_metric": val_key,
            "test_metric": test_key,
            "runs": runs,
        }
    results["tables"] = tables
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
