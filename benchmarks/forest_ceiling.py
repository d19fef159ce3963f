"""How far can any forest go on each breast-cancer split? A ceiling check for the forest target.

For each split seed, trains every configuration of a grid of scikit-learn random forests and
extra-trees (max_features x min_samples_leaf x max_depth x criterion, 200 trees) on all
non-test rows (what a refit trains on) and scores each on the test rows. No selection happens
here: the maximum is what an oracle that peeks at the test split would reach, the median what
a typical configuration reaches. A logistic regression on the same rows is printed beside it.

    python benchmarks/forest_ceiling.py --split-seeds 5 \
        --json benchmarks/results/forest_ceiling.json
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import statistics
from pathlib import Path

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from automl.core.registry import discover_data
from automl.data import load_dataset

GRID = {
    "algorithm": {"random_forest": RandomForestClassifier, "extra_trees": ExtraTreesClassifier},
    "max_features": [0.1, 0.2, 0.35, 0.5, 0.7, 1.0],
    "min_samples_leaf": [1, 2, 4, 8],
    "max_depth": [None, 4],
    "criterion": ["gini", "entropy"],
}


def split_ceiling(seed: int, target: float, n_jobs: int) -> dict:
    """Test accuracy of every grid configuration (and a logistic regression) on one split."""
    plugin = discover_data().get("breast_cancer")
    dataset = load_dataset(plugin, dataclasses.replace(plugin.config(), seed=seed))
    merged = dataset.merged()
    x, y = np.asarray(merged.train.x), np.asarray(merged.train.y)
    x_test, y_test = np.asarray(dataset.test.x), np.asarray(dataset.test.y)
    accuracies = []
    for algo, features, leaf, depth, criterion in itertools.product(*GRID.values()):
        model = GRID["algorithm"][algo](
            n_estimators=200,
            max_features=features,
            min_samples_leaf=leaf,
            max_depth=depth,
            criterion=criterion,
            random_state=0,
            n_jobs=n_jobs,
        ).fit(x, y)
        accuracies.append(float((model.predict(x_test) == y_test).mean()))
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(x, y)
    return {
        "seed": seed,
        "configs": len(accuracies),
        "max": max(accuracies),
        "median": statistics.median(accuracies),
        "share_at_target": sum(a >= target for a in accuracies) / len(accuracies),
        "logistic_regression": float((linear.predict(x_test) == y_test).mean()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split-seeds", type=int, default=5, help="splits data.seed=0..N-1")
    parser.add_argument("--target", type=float, default=0.96)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args(argv)
    rows = [split_ceiling(s, args.target, args.n_jobs) for s in range(args.split_seeds)]
    print(f"{'split':>5} {'configs':>7} {'max':>7} {'median':>7} {'>=target':>8} {'logreg':>7}")
    for r in rows:
        print(
            f"{r['seed']:>5} {r['configs']:>7} {r['max']:>7.4f} {r['median']:>7.4f} "
            f"{r['share_at_target']:>8.0%} {r['logistic_regression']:>7.4f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"target": args.target, "splits": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
