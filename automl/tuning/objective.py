"""The objective: one live ``optuna.Trial`` -> sampled config -> ``train.fit`` -> value."""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf

from automl import train
from automl.data import Dataset
from automl.errors import TrialPruned, reason
from automl.plan import RunPlan, trial_config
from automl.tuning.lost import worker_id

__all__ = ["Objective", "trial_dir"]


def trial_dir(run_dir: Path, number: int) -> Path:
    """``<run dir>/trials/<number, 4 digits>``."""
    return run_dir / "trials" / f"{number:04d}"


class Objective:
    """Callable handed to ``study.optimize``.

    Samples the plan's space with the public ``trial.suggest_*`` API, applies the values to a
    copy of the model config, trains with a reporter that feeds ``trial.report`` and
    ``trial.should_prune``, and stores what Optuna does not: epochs, wall time, parameter
    count, all metrics, the model file and, for a failed trial, the reason.

    Args:
        plan: The validated run plan.
        dataset: Shared data of this process.
        interrupted: Set by the SIGINT handler; turns Lightning's ``SystemExit`` back into
            ``KeyboardInterrupt`` so Optuna records the trial as failed.
        on_start: Called with the trial number when a trial starts (the live leaderboard).
    """

    def __init__(
        self,
        plan: RunPlan,
        dataset: Dataset,
        interrupted: threading.Event,
        on_start: Any = None,
    ) -> None:
        self.plan = plan
        self.dataset = dataset
        self.interrupted = interrupted
        self.on_start = on_start

    def __call__(self, trial: optuna.Trial) -> float:
        plan = self.plan
        if self.on_start is not None:
            self.on_start(trial.number)
        params = {name: p.suggest(trial, name) for name, p in plan.space.items()}
        node = trial_config(plan.model_node, params)
        directory = trial_dir(plan.run_dir, trial.number)
        directory.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(node, directory / "config.yaml")
        trial.set_user_attr("dir", str(directory))
        trial.set_user_attr("worker", worker_id())  # a rerun on this machine can tell it died
        unit = "epoch" if plan.plugin.kind == "lightning" else "step"
        trial.set_user_attr("unit", "fold" if self.dataset.folds else unit)
        start = time.perf_counter()

        def report(step: int, value: float) -> bool:
            trial.report(value, step)
            return trial.should_prune()

        try:
            result = train.fit(
                plan.plugin,
                OmegaConf.to_object(node),
                self.dataset,
                plan.trainer,
                report=report,
                workdir=directory,
                seed=plan.trainer.seed + trial.number,
            )
        except TrialPruned as exc:
            trial.set_user_attr("epochs", exc.epoch + 1)
            trial.set_user_attr("duration_s", time.perf_counter() - start)
            raise optuna.TrialPruned(str(exc)) from None
        except (KeyboardInterrupt, SystemExit) as exc:
            # Lightning turns Ctrl-C into SystemExit(1); only our handler knows it was Ctrl-C.
            if isinstance(exc, SystemExit) and not self.interrupted.is_set():
                raise
            trial.set_user_attr("error", "interrupted by user (Ctrl-C)")
            raise KeyboardInterrupt from None
        except Exception as exc:
            trial.set_user_attr("error", reason(exc))
            trial.set_user_attr("duration_s", time.perf_counter() - start)
            (directory / "error.txt").write_text(traceback.format_exc())
            raise
        trial.set_user_attr("epochs", result.epochs)
        trial.set_user_attr("duration_s", time.perf_counter() - start)
        trial.set_user_attr("train_s", result.wall_time)
        trial.set_user_attr("metrics", result.metrics)
        trial.set_user_attr("model_file", result.artifact)
        trial.set_user_attr("budget", result.budget)
        if result.n_params is not None:
            trial.set_user_attr("n_params", result.n_params)
        return result.value
