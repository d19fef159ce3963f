"""One worker of a shared grid or QMC study on a journal file (tests/test_samplers.py).

    python grid_worker.py grid|qmc JOURNAL READY_DIR WORKER_ID N_WORKERS N_TRIALS

Each worker waits until every worker has opened the study (a file per worker in READY_DIR),
so their trials overlap, then runs N_TRIALS trials whose objective does a little real work.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from automl.core.space import Choice, Float
from automl.tuning.factories import make_sampler

# The grid: 5 x 3 = 15 points. QMC: x continuous, so every point of the sequence differs.
SPACES = {
    "grid": {"x": Float(-1.0, 1.0, step=0.5), "y": Choice(["a", "b", "c"])},
    "qmc": {"x": Float(-1.0, 1.0), "y": Choice(["a", "b", "c"])},
}


def main() -> int:
    name, journal, ready, worker, n_workers, n_trials = sys.argv[1:]
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = JournalStorage(JournalFileBackend(journal))
    # Every worker has the same command, so the same seed (grid order, QMC sequence).
    space = SPACES[name]
    sampler = make_sampler(name, 5, space=space, n_trials=2 * int(n_trials))
    study = optuna.create_study(
        study_name="shared", storage=storage, sampler=sampler, load_if_exists=True
    )
    Path(ready, worker).touch()
    deadline = time.monotonic() + 120
    while len(list(Path(ready).iterdir())) < int(n_workers):
        if time.monotonic() > deadline:
            raise SystemExit("the other workers never came up")
        time.sleep(0.01)  # polling for the other workers, not timing the test
    rng = np.random.default_rng(int(worker))

    def objective(trial: optuna.Trial) -> float:
        x = space["x"].suggest(trial, "x")
        y = space["y"].suggest(trial, "y")
        trial.set_user_attr("worker", int(worker))
        for _ in range(3):  # a few milliseconds of work, as a (very) small training run
            np.linalg.svd(rng.standard_normal((100, 100)))
        return x**2 + (y != "b")

    study.optimize(objective, n_trials=int(n_trials), catch=(Exception,))
    return 0


if __name__ == "__main__":
    sys.exit(main())
