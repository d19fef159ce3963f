"""One AutoGluon ``TabularPredictor`` run on a split exported by the driver (``autogluon`` env).

AutoGluon gets the training and validation samples together (80 % of the data, as FLAML) and
holds out part of them itself to choose and ensemble its models (``presets="medium_quality"``:
no bagging or stacking, no refit). It runs on one CPU (``num_cpus=1``), as automl's
``trainer.num_threads=1`` and FLAML's ``n_jobs=1``; the metric is accuracy (RMSE for
regression). Its best model (the weighted ensemble, usually) is tested on the same 20 % test
rows as the other tools.

``--deadline`` (seconds since the epoch) makes the process end by then, measured from outside
like automl's ``sweep.timeout``: the time limit given to ``fit`` is what is left after the
imports and the data, less ``--reserve`` seconds for the prediction and the exit.
"""

from __future__ import annotations

import argparse
import json
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--budget", type=float, default=60.0, help="time_limit when no --deadline")
    p.add_argument("--deadline", type=float, default=None, help="epoch seconds to end by")
    p.add_argument("--reserve", type=float, default=1.0, help="seconds kept for after the fit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--presets", default="medium_quality")
    p.add_argument("--num-cpus", type=int, default=1)
    p.add_argument("--task", default="classification", choices=("classification", "regression"))
    p.add_argument("--path", required=True, help="AutoGluon's model folder")
    p.add_argument("--out", required=True)
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    import numpy as np
    import pandas as pd
    from autogluon.tabular import TabularPredictor

    d = np.load(args.data)
    x = np.concatenate([d["x_train"], d["x_val"]])
    y = np.concatenate([d["y_train"], d["y_val"]])
    cols = [f"f{i}" for i in range(x.shape[1])]
    train = pd.DataFrame(x, columns=cols).assign(label=y)
    test = pd.DataFrame(d["x_test"], columns=cols)
    classify = args.task == "classification"
    if classify:
        problem = "binary" if len(np.unique(y)) == 2 else "multiclass"
    else:
        problem = "regression"
    metric = "accuracy" if classify else "root_mean_squared_error"
    if args.deadline is not None:
        limit = max(1.0, args.deadline - args.reserve - time.time())
    else:
        limit = args.budget
    # The seed picks AutoGluon's holdout rows (its learner's random_state); its models keep
    # their own default seeds.
    predictor = TabularPredictor(
        label="label",
        problem_type=problem,
        eval_metric=metric,
        path=args.path,
        verbosity=0,
        learner_kwargs={"random_state": args.seed},
    )
    t0 = time.time()
    predictor.fit(
        train,
        time_limit=limit,
        presets=args.presets,
        num_cpus=args.num_cpus,
        num_gpus=0,
    )
    fit_s = time.time() - t0
    pred = np.asarray(predictor.predict(test))
    if classify:
        test_acc, test_rmse = float((pred == d["y_test"]).mean()), None
    else:
        test_acc = None
        test_rmse = float(np.sqrt(np.mean((pred.astype(float) - d["y_test"]) ** 2)))
    board = predictor.leaderboard(silent=True)
    models = [str(m) for m in board["model"]]
    out = {
        "fit_s": fit_s,
        "time_limit": limit,
        "reserve": args.reserve,
        "best_model": predictor.model_best,
        # AutoGluon's validation score is higher-is-better (RMSE is negated).
        "best_value": float(board.loc[board["model"] == predictor.model_best, "score_val"].iloc[0])
        * (1.0 if classify else -1.0),
        "test_acc": test_acc,
        "test_rmse": test_rmse,
        "models": models,
        "n_trials": len(models),
        "n_train_given": int(len(y)),
        "num_cpus": args.num_cpus,
        "presets": args.presets,
        "exit_at": time.time(),
    }
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2, default=str)


if __name__ == "__main__":
    main()
