"""Quality of the shipped recipes on the built-in data, with the baselines the issue names.

Runs each recipe as a user would (``python -m automl +recipe=NAME``) in a fresh results
directory, then reads ``leaderboard.json`` and ``best/metrics.json``. Prints, per recipe: wall
time, trials (complete / pruned / failed), best validation metric, test metric, the target
and whether it was met. Baselines measured in the same run: a linear regression on the
diabetes split automl uses (for ``xgboost_diabetes``).

    python benchmarks/quality.py                      # every recipe
    python benchmarks/quality.py cnn_digits rnn_digits --json docs/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# recipe -> (test metric, target, "min"/"max")
TARGETS: dict[str, tuple[str, float | None, str]] = {
    "cnn_digits": ("test_acc", 0.985, "max"),
    "rnn_digits": ("test_acc", 0.97, "max"),
    "mlp_digits": ("test_acc", 0.97, "max"),
    "xgboost_breast_cancer": ("test_acc", 0.96, "max"),
    "forest_breast_cancer": ("test_acc", 0.96, "max"),
    "xgboost_diabetes": ("test_rmse", None, "min"),  # target: below the linear baseline
    "gan_digits": ("test_fd", None, "min"),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("recipes", nargs="*", help="recipes to run (default: all with a target)")
    p.add_argument("--out", type=Path, default=None, help="results directory (default: temp)")
    p.add_argument("--json", type=Path, default=None, help="write the table as JSON here")
    p.add_argument("--override", action="append", default=[], help="extra override for every run")
    return p.parse_args(argv)


def linear_baseline_rmse() -> float:
    """Linear regression fitted on automl's diabetes training split, scored on its test split."""
    import numpy as np

    from automl.data import load_dataset
    from automl.metrics import regression_metrics
    from automl.registry import discover_data

    plugin = discover_data().get("diabetes")
    ds = load_dataset(plugin, plugin.config())
    x = np.c_[ds.train.x, np.ones(len(ds.train.x))]
    coef, *_ = np.linalg.lstsq(x, ds.train.y, rcond=None)
    pred = np.c_[ds.test.x, np.ones(len(ds.test.x))] @ coef
    return regression_metrics(ds.test.y, pred)["rmse"]


def run_recipe(name: str, out: Path, overrides: list[str]) -> dict:
    run_dir = out / name
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "automl",
            f"+recipe={name}",
            f"hydra.run.dir={run_dir}",
            f"sweep.study_name=quality-{name}",
            *overrides,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    wall = time.perf_counter() - start
    row: dict = {"recipe": name, "wall_s": round(wall, 1), "returncode": proc.returncode}
    if proc.returncode != 0:
        row["error"] = proc.stderr.strip().splitlines()[-1:] or ["?"]
        return row
    board = json.loads((run_dir / "leaderboard.json").read_text())
    states = [t["state"] for t in board["trials"]]
    row.update(
        trials=len(states),
        complete=states.count("COMPLETE"),
        pruned=states.count("PRUNED"),
        failed=states.count("FAIL"),
        epochs_run=sum(t["epochs"] or 0 for t in board["trials"]),
        metric=board["metric"],
    )
    metrics = json.loads((run_dir / "best" / "metrics.json").read_text())
    row["best_val"] = metrics["validation"].get(board["metric"])
    row["test"] = metrics["test"]
    return row


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    names = args.recipes or [r for r in TARGETS if (ROOT / "sweeps" / f"{r}.yaml").exists()]
    out = args.out or Path(tempfile.mkdtemp(prefix="automl-quality-"))
    baseline = linear_baseline_rmse() if "xgboost_diabetes" in names else None
    rows = []
    for name in names:
        row = run_recipe(name, out, args.override)
        key, target, sense = TARGETS.get(name, ("", None, "max"))
        if name == "xgboost_diabetes":
            target = baseline
            row["baseline_linear_rmse"] = round(baseline, 3)
        value = (row.get("test") or {}).get(key)
        row["test_metric"], row["target"] = key, target
        if value is not None and target is not None:
            row["met"] = value >= target if sense == "max" else value < target
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(
        f"{'recipe':<24}{'wall s':>8}{'trials':>8}{'pruned':>8}{'best val':>10}"
        f"{'test':>10}{'target':>9}  met"
    )
    for r in rows:
        value = (r.get("test") or {}).get(r["test_metric"])
        print(
            f"{r['recipe']:<24}{r['wall_s']:>8}{r.get('trials', '-'):>8}{r.get('pruned', '-'):>8}"
            f"{r.get('best_val') or float('nan'):>10.4f}{value or float('nan'):>10.4f}"
            f"{r['target'] if r['target'] is not None else float('nan'):>9.4f}  {r.get('met', '-')}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
