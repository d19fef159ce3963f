"""One FLAML AutoML run on a split exported by the benchmark driver (``flaml`` peer env).

FLAML gets the training and validation samples together (80 % of the data) and validates
internally as it chooses (``eval_method="auto"``: cross-validation or holdout by data size;
the choice is recorded); the metric is accuracy, as automl's. After the search FLAML retrains
the best configuration on everything it was given (its default ``retrain_full=True``); that
model's accuracy on the held-out test split (the same 20 % automl tests on) is reported.

``--deadline`` (seconds since the epoch) makes the process end by then, measured from outside
like automl's ``sweep.timeout``: ``time_budget`` is what is left after the imports and the
data, less ``--reserve`` seconds for the retrain (outside FLAML's ``time_budget``), the test
and the exit.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--budget", type=float, default=60.0, help="FLAML time_budget in seconds")
    p.add_argument("--deadline", type=float, default=None, help="epoch seconds to end by")
    p.add_argument("--reserve", type=float, default=1.0, help="seconds kept for after the search")
    p.add_argument("--estimators", default="auto", help="'auto' (FLAML's list) or comma list")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-jobs", type=int, default=1, help="FLAML n_jobs (its default is -1)")
    p.add_argument("--log", required=True, help="FLAML's per-trial log file")
    p.add_argument(
        "--task",
        default="classification",
        choices=("classification", "regression"),
        help="classification (metric accuracy) or regression (metric rmse)",
    )
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def _per_estimator(trials: list[dict]) -> dict[str, int]:
    """Trials FLAML ran per estimator (learner), from its log records."""
    out: dict[str, int] = {}
    for r in trials:
        name = str(r.get("learner", "?"))
        out[name] = out.get(name, 0) + 1
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    from flaml import AutoML

    d = np.load(args.data)
    x = np.concatenate([d["x_train"], d["x_val"]])
    y = np.concatenate([d["y_train"], d["y_val"]])
    automl = AutoML()
    classify = args.task == "classification"
    settings = {
        "task": args.task,
        "metric": "accuracy" if classify else "rmse",
        "time_budget": (
            max(1.0, args.deadline - args.reserve - time.time())
            if args.deadline is not None
            else args.budget
        ),
        "seed": args.seed,
        "verbose": 0,
        "log_file_name": args.log,
        "log_type": "all",  # one record per trial, not only the improvements
        "n_jobs": args.n_jobs,
    }
    if args.estimators != "auto":
        settings["estimator_list"] = args.estimators.split(",")
    t0 = time.time()
    automl.fit(x, y, **settings)
    fit_s = time.time() - t0
    pred = automl.predict(d["x_test"])
    if classify:
        test_acc, test_rmse = float((pred == d["y_test"]).mean()), None
    else:
        test_acc = None
        test_rmse = float(np.sqrt(np.mean((np.asarray(pred, float) - d["y_test"]) ** 2)))
    with open(args.log) as f:
        records = [json.loads(line) for line in f if line.strip().startswith("{")]
    trials = [r for r in records if "record_id" in r]
    out = {
        "fit_s": fit_s,
        # FLAML minimizes a loss: 1 - accuracy, or the RMSE itself.
        "best_value": 1.0 - float(automl.best_loss) if classify else float(automl.best_loss),
        "best_estimator": automl.best_estimator,
        "best_config": automl.best_config,
        "test_acc": test_acc,
        "test_rmse": test_rmse,
        "estimator_trials": _per_estimator(trials),
        "n_trials": len(trials),
        "eval_method": getattr(automl._state, "eval_method", None),
        "estimators": list(automl.estimator_list),
        "n_train_given": int(len(y)),
        "n_jobs": args.n_jobs,
        "time_budget": settings["time_budget"],
        "reserve": args.reserve,
        "exit_at": time.time(),
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2, default=str)


if __name__ == "__main__":
    main()
