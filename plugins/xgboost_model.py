"""XGBoost builder and loader (imports xgboost; loaded only when a model is built or reloaded)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from automl_plugins.xgboost import XGBoostConfig

from automl.core.gpus import driver_gpu_count
from automl.errors import TrialPruned, UserError
from automl.plugin import BaseEstimator, DataSpec

__all__ = ["XGBoostEstimator", "build", "load", "resolve_device", "MODEL_FILE"]

MODEL_FILE = "model.json"
CHECKPOINT_MODEL = "booster.ubj"
CHECKPOINT_STATE = "state.json"
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda`` for the configured ``device`` (``auto`` picks CUDA when usable).

    Raises:
        UserError: For a device other than ``auto``, ``cpu`` or ``cuda[:N]``.
    """
    if device == "auto":
        cuda_build = bool(xgb.build_info().get("USE_CUDA", False))
        return "cuda" if cuda_build and (driver_gpu_count() or 0) > 0 else "cpu"
    if device == "cpu" or device.startswith("cuda"):
        return device
    raise UserError(f"model.device={device!r} is not one of {', '.join(DEVICES)} (or cuda:N)")


SMALL_DATA_CELLS = 1_000_000


def threads(n_jobs: int, x: np.ndarray | None) -> int | None:
    """XGBoost's ``n_jobs`` for ``n_jobs`` (0 = by data size; ``None`` = every core)."""
    if n_jobs:
        return n_jobs
    return 1 if x is not None and x.size < SMALL_DATA_CELLS else None


def _flat(x: Any) -> np.ndarray:
    """One feature vector per sample: images and sequences are flattened."""
    x = np.asarray(x, dtype=np.float32)
    return x.reshape(len(x), -1) if x.ndim != 2 else x


class _Reporter(xgb.callback.TrainingCallback):
    """Feeds the study metric of the validation set to ``report`` every ``every`` rounds, and
    stops boosting early.

    The value is read from XGBoost's own evaluation log (computed from the cached predictions
    of the round, so no extra prediction pass): ``1 - error`` (binary, threshold 0.5) or
    ``1 - merror`` (multiclass, argmax) is exactly the accuracy of ``predict``, and ``rmse``
    is the RMSE of ``automl.core.metrics``.

    Early stopping is XGBoost's own rule (its ``EarlyStopping`` callback, kept here so that a
    checkpoint holds its state): the last metric of the evaluation list (the smooth loss) is
    watched; a round whose value is lower than the best so far is the new best (recorded on
    the booster as ``best_iteration`` and ``best_score``, which ``predict`` and the saved model
    use); ``patience`` rounds in a row without one stop boosting.

    Args:
        report: The study's report.
        every: Report every this many rounds.
        metric: The reported evaluation metric.
        accuracy: Report ``1 - metric`` (an error rate).
        patience: Rounds without improvement before stopping (0: never stop early).
        done: Rounds boosted before this fit (it continues a checkpoint's booster).
        stopping: The early-stopping state at the checkpoint (``state()``'s ``stopping``).
    """

    def __init__(
        self,
        report: Callable[[int, float], bool],
        every: int,
        metric: str,
        accuracy: bool,
        patience: int = 0,
        done: int = 0,
        stopping: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.report = report
        self.every = max(1, int(every))
        self.metric = metric
        self.accuracy = accuracy
        self.patience = int(patience or 0)
        self.rounds = int(done)
        self.done = int(done)
        stopping = stopping or {}
        self.best: float | None = stopping.get("best")
        self.since_best = int(stopping.get("since_best", 0))
        self.stop = False
        self.booster: xgb.Booster | None = None
        self.pruned: TrialPruned | None = None

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps besides the booster (plain values)."""
        return {
            "rounds": self.rounds,
            "stopping": {"best": self.best, "since_best": self.since_best},
        }

    def _early_stop(self, model: Any, round_: int, evals_log: dict) -> bool:
        if not self.patience:
            return False
        log = evals_log["validation_0"]
        score = float(log[list(log)[-1]][-1])
        if self.best is None or self.best > score:
            self.best, self.since_best = score, 0
            model.set_attr(best_score=str(score), best_iteration=str(round_))
        else:
            self.since_best += 1
        return self.since_best >= self.patience

    def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
        round_ = self.done + epoch  # a continued fit counts on from the checkpoint's rounds
        self.rounds, self.booster = round_ + 1, model
        self.stop = self._early_stop(model, round_, evals_log)
        if (round_ + 1) % self.every:
            return self.stop
        raw = float(evals_log["validation_0"][self.metric][-1])
        value = 1.0 - raw if self.accuracy else raw
        if self.report(round_, value):
            # Stop boosting cleanly (returning True), then raise once fit() has returned.
            self.pruned = TrialPruned(round_, value)
            return True
        return self.stop


class XGBoostEstimator(BaseEstimator):
    """An ``automl.plugin.BaseEstimator`` around ``XGBClassifier``/``XGBRegressor``.

    Row and column sampling are seeded with ``cfg.seed`` + the trial's seed (``self.seed``).

    A checkpoint (``checkpoint``/``resume``) is the booster in XGBoost's own UBJSON format and
    the early-stopping state; a resumed fit continues the booster (``xgb_model=``) for the
    rounds left. Without row or column sampling it ends with the trees an uninterrupted fit
    grows; with them (``subsample`` or ``colsample_bytree`` below 1) the rounds after the
    checkpoint draw other rows than an uninterrupted fit would (XGBoost keeps its sampler's
    random state inside the running booster, which its model format does not save).

    Args:
        cfg: The model config.
        spec: The data description (task, number of classes).
    """

    def __init__(self, cfg: XGBoostConfig, spec: DataSpec) -> None:
        self.cfg = cfg
        self.spec = spec
        self.classify = spec.task == "classification"
        self.model: xgb.XGBModel | None = None
        self.rounds = 0
        self._reporter: _Reporter | None = None
        self._resume: tuple[xgb.Booster, dict[str, Any]] | None = None

    def device(self) -> str:
        """``cuda`` or ``cpu``: what ``model.device`` resolves to here (``auto``: CUDA when
        this XGBoost build and a GPU are there)."""
        return resolve_device(self.cfg.device)

    def _params(self, x_train: np.ndarray) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "n_estimators": cfg.n_estimators,
            "learning_rate": cfg.learning_rate,
            "max_depth": cfg.max_depth,
            "min_child_weight": cfg.min_child_weight,
            "subsample": cfg.subsample,
            "colsample_bytree": cfg.colsample_bytree,
            "reg_lambda": cfg.reg_lambda,
            "reg_alpha": cfg.reg_alpha,
            "gamma": cfg.gamma,
            "tree_method": "hist",
            "device": resolve_device(cfg.device),
            "random_state": (cfg.seed + self.seed) % 2**31,
            "n_jobs": threads(cfg.n_jobs, x_train),
        }

    def _eval_metrics(self) -> tuple[list[str], str]:
        """XGBoost eval metrics and the one that becomes the reported study metric.

        Early stopping watches the last metric in the list: the smooth loss (logloss for
        classification, RMSE for regression), because accuracy on a small validation set
        plateaus for many rounds.
        """
        if not self.classify:
            return ["rmse"], "rmse"
        if (self.spec.n_classes or 2) > 2:
            return ["merror", "mlogloss"], "merror"
        return ["error", "logloss"], "error"

    def fit(
        self,
        train: tuple[Any, Any],
        val: tuple[Any, Any],
        report: Callable[[int, float], bool] | None,
    ) -> None:
        """Boost on ``train`` with early stopping on ``val``; report every ``report_every`` rounds.

        After ``resume``, boosting continues the checkpoint's booster for the rounds left.

        Raises:
            TrialPruned: When ``report`` returned ``True`` (boosting stops at that round).
        """
        metrics, reported = self._eval_metrics()
        x_train, y_train = _flat(train[0]), np.asarray(train[1])
        cls = xgb.XGBClassifier if self.classify else xgb.XGBRegressor
        if val is None:  # a refit: a fixed number of rounds, nothing to evaluate on
            self.model = cls(**self._params(x_train))
            self.model.fit(x_train, y_train, verbose=False)
            self.rounds = self.model.get_booster().num_boosted_rounds()
            return
        booster, state = self._resume if self._resume is not None else (None, {})
        reporter = self._reporter = _Reporter(
            report or (lambda step, value: False),
            self.cfg.report_every,
            reported,
            accuracy=self.classify,
            patience=self.cfg.early_stopping_rounds,
            done=int(state.get("rounds", 0)),
            stopping=state.get("stopping"),
        )
        params = self._params(x_train)
        params["n_estimators"] = self.cfg.n_estimators - reporter.done
        x_val, y_val = _flat(val[0]), np.asarray(val[1])
        # XGBoost 3 takes callbacks and metrics in the constructor, not fit().
        self.model = cls(**params, eval_metric=metrics, callbacks=[reporter])
        self.model.fit(
            x_train, y_train, eval_set=[(x_val, y_val)], verbose=False, xgb_model=booster
        )
        self.rounds = reporter.rounds
        if reporter.pruned is not None:
            raise reporter.pruned

    def checkpoint(self, directory: str) -> bool:
        """Write the booster so far (UBJSON) and the early-stopping state (JSON)."""
        reporter = self._reporter
        if reporter is None or reporter.booster is None or reporter.stop:
            return False  # nothing boosted yet, or early stopping ends the fit here
        if reporter.rounds >= self.cfg.n_estimators:
            return False
        reporter.booster.save_model(str(Path(directory) / CHECKPOINT_MODEL))
        (Path(directory) / CHECKPOINT_STATE).write_text(json.dumps(reporter.state()))
        return True

    def resume(self, directory: str) -> None:
        """Continue from what ``checkpoint`` wrote: the next ``fit`` boosts the rounds left.

        Raises:
            ValueError: The state does not fit this config.
        """
        state = json.loads((Path(directory) / CHECKPOINT_STATE).read_text())
        booster = xgb.Booster()
        booster.load_model(str(Path(directory) / CHECKPOINT_MODEL))
        rounds = int(state["rounds"])
        if booster.num_boosted_rounds() != rounds or not 0 < rounds < self.cfg.n_estimators:
            raise ValueError(f"a booster of {booster.num_boosted_rounds()} rounds cannot go on")
        self._resume = (booster, state)

    def fitted_budget(self) -> dict[str, int]:
        """Rounds up to the best validation round, as config overrides for a refit."""
        model = self._fitted()
        best = getattr(model, "best_iteration", None)
        rounds = best + 1 if best is not None else model.get_booster().num_boosted_rounds()
        return {"n_estimators": int(rounds), "early_stopping_rounds": 0}

    def n_params(self) -> int:
        """Tree nodes (split thresholds and leaf values) of the rounds ``predict`` uses."""
        model = self._fitted()
        dumps = model.get_booster().get_dump()
        rounds = model.get_booster().num_boosted_rounds()
        best = getattr(model, "best_iteration", None)
        used = len(dumps) if best is None or not rounds else (best + 1) * len(dumps) // rounds
        return sum(len(tree.splitlines()) for tree in dumps[:used])

    def _fitted(self) -> xgb.XGBModel:
        if self.model is None:
            raise RuntimeError("the XGBoost model is not fitted; call fit() or load() first")
        return self.model

    def _threaded(self, x: Any) -> xgb.XGBModel:
        """The model with threads chosen for this input (a few rows: one thread)."""
        model = self._fitted()
        n_jobs = threads(self.cfg.n_jobs, _flat(x))
        # Not set_params(): it re-sends every parameter, and XGBoost rejects its own list
        # form of eval_metric there. nthread 0 means every core.
        model.n_jobs = n_jobs
        model.get_booster().set_param("nthread", n_jobs or 0)
        return model

    def predict(self, x: Any) -> np.ndarray:
        """Class ids or values, using the best round when early stopping ran."""
        return np.asarray(self._threaded(x).predict(_flat(x)))

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities (classification only)."""
        model = self._threaded(x)
        if not isinstance(model, xgb.XGBClassifier):
            raise TypeError("predict_proba needs a classification model")
        return np.asarray(model.predict_proba(_flat(x)))

    def save(self, path: str) -> str:
        """Write XGBoost's own JSON model format (no pickle) to ``<path>/model.json``."""
        target = Path(path) / MODEL_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        self._fitted().save_model(str(target))
        return str(target)


def build(cfg: XGBoostConfig, spec: DataSpec) -> XGBoostEstimator:
    """An unfitted estimator for ``spec``'s task.

    Raises:
        UserError: For an unknown ``device``.
    """
    resolve_device(cfg.device)  # fail at build time, before any data is touched
    return XGBoostEstimator(cfg, spec)


def load(directory: str, cfg: XGBoostConfig, spec: DataSpec) -> XGBoostEstimator:
    """Reload a model written by ``XGBoostEstimator.save`` (best round kept)."""
    estimator = XGBoostEstimator(cfg, spec)
    cls = xgb.XGBClassifier if estimator.classify else xgb.XGBRegressor
    model = cls(device=resolve_device(cfg.device))
    model.load_model(str(Path(directory) / MODEL_FILE))
    estimator.model = model
    estimator.rounds = model.get_booster().num_boosted_rounds()
    return estimator
