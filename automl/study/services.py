"""What the study loop and the export ask of a prepared run: sample, configure, train.

``automl.study.run.prepare`` decides everything once and records it (``Run``); these are the
operations on those decisions that a trial needs, handed to tuning and the export as one
object (``Run.services``): sampling a trial's parameters, the model config of a trial, each
family's default configuration, and training (fit with its prediction latency, refit). None
of them decides anything: the families, their backends, the data, the goal and whether folds
report their own values were fixed by ``prepare``.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from automl.backends import FitResult, Goal
from automl.backends.checkpoint import TrialCheckpoint
from automl.backends.protocol import fit_config, refit_config
from automl.core.plugin import Report
from automl.core.space import Param
from automl.data import Dataset
from automl.study.families import (
    FAMILY_PARAM,
    RunFamily,
    default_order,
    family_of,
    own_params,
    prefixed,
    trial_config,
)

if TYPE_CHECKING:
    from automl.core.space import Suggester

__all__ = ["Services", "LATENCY_ROWS", "LATENCY_CALLS", "LATENCY_WINDOWS"]

LATENCY_ROWS = 32
"""Validation rows of the fixed batch ``latency_ms`` is measured on (fewer if there are not)."""
LATENCY_CALLS = 5
"""Timed prediction calls per window (after one untimed warm-up call); a window's median is
its latency."""
LATENCY_WINDOWS = 3
"""Windows at most: another is timed while a window's calls spread more than 2x (another
process held the CPU), and the lowest median is kept."""


class Services:
    """Sampling, configuring and training the trials of one prepared run.

    Args:
        families: Each searched family (``Run.families``).
        dataset: The data every trial of this process shares.
        goal: The objectives and the best-epoch metric.
        space: The searched space of a one-model run (``RunPlan.space``).
        auto: A search across families (``model=auto``): parameters are prefixed and the
            family is the ``family`` parameter.
        fold_values: With k folds, report each fold's value instead of the running mean.
    """

    def __init__(
        self,
        families: Mapping[str, RunFamily],
        dataset: Dataset,
        goal: Goal,
        space: Mapping[str, Param],
        *,
        auto: bool,
        fold_values: bool,
    ) -> None:
        self.families = families
        self.dataset = dataset
        self.goal = goal
        self.space = space
        self.auto = auto
        self.fold_values = fold_values

    def family(self, name: str | None = None) -> RunFamily:
        """A family by name; ``None`` means the run's only family.

        Raises:
            KeyError: No such family (a trial of another study's families).
        """
        if name is None:
            if len(self.families) != 1:
                raise KeyError("model=auto: a trial's family must be named")
            return next(iter(self.families.values()))
        return self.families[name]

    def dataset_of(self, family: str | None = None) -> Dataset:
        """The data as ``family`` reads it (``None``: the run's only family)."""
        fam = self.family(family)
        return fam.dataset if fam.dataset is not None else self.dataset

    def family_of(self, params: Mapping[str, Any]) -> RunFamily:
        """The family a trial's parameters belong to."""
        return self.family(family_of(params) if self.auto else None)

    def sample(self, trial: Suggester) -> dict[str, Any]:
        """Sample a trial's parameters through its public ``suggest_*`` methods.

        With ``model=auto`` the family first, then that family's parameters only (named
        ``family.param``).
        """
        if not self.auto:
            return {name: p.suggest(trial, name) for name, p in self.space.items()}
        name = str(trial.suggest_categorical(FAMILY_PARAM, list(self.families)))
        params: dict[str, Any] = {FAMILY_PARAM: name}
        for param, p in self.families[name].family.space.items():
            key = prefixed(name, param)
            params[key] = p.suggest(trial, key)
        return params

    def config(self, params: Mapping[str, Any]) -> DictConfig:
        """The trial's model config: its family's base config with ``params`` applied (a copy)."""
        fam = self.family_of(params)
        own = own_params(fam.name, params) if self.auto else dict(params)
        return trial_config(fam.family.node, own)

    def defaults(self) -> list[dict[str, Any]]:
        """Each family's default configuration as study parameters (what ``enqueue_defaults``
        runs first): the values its base config gives the searched parameters, cheapest
        family first (``families.default_order``: families whose backend's trials cost the
        most, ``Backend.expensive``: torch, come last), so a short budget still covers the
        cheap families."""
        out = []
        for fam in default_order(list(self.families.values())):
            base = fam.family.node
            values = {p: OmegaConf.select(base, p) for p in fam.family.space}
            if self.auto:
                values = {prefixed(fam.name, p): v for p, v in values.items()}
                values = {FAMILY_PARAM: fam.name, **values}
            out.append(values)
        return out

    def fit(
        self,
        cfg: object,
        *,
        family: str | None = None,
        report: Report | None = None,
        workdir: str | Path | None = None,
        seed: int = 0,
        deadline: float | None = None,
        checkpoint: TrialCheckpoint | None = None,
    ) -> FitResult:
        """Train one configuration (holdout or k-fold) toward the run's goal, then measure its
        prediction latency (``latency_ms``). Past ``deadline`` (``time.monotonic()``) training
        stops at its next report with its best step so far (``FitResult.stopped``);
        ``checkpoint`` keeps its training state as it goes and continues a lost trial's
        (``automl.backends.checkpoint``)."""
        fam = self.family(family)
        result = fit_config(
            fam.backend,
            fam.plugin,
            cfg,
            self.dataset_of(family),
            self.goal,
            report=report,
            workdir=workdir,
            seed=seed,
            fold_values=self.fold_values,
            deadline=deadline,
            checkpoint=checkpoint,
        )
        result.latency_ms = self.latency(fam, result.model)
        return result

    def latency(self, fam: RunFamily, model: object) -> float | None:
        """Milliseconds of ``fam``'s backend predicting a fixed batch of validation rows
        (``LATENCY_ROWS``; fold 0's with k folds): the median of ``LATENCY_CALLS`` calls after
        a warm-up call, the lowest of up to ``LATENCY_WINDOWS`` such medians while the calls
        spread (on a shared machine other processes stall some calls), on one thread where
        the backend allows. ``None`` for models that do not predict (generators)."""
        task = self.dataset.spec.task
        if model is None or task not in ("classification", "regression"):
            return None
        if fam.backend.generates(model):
            return None
        data = self.dataset_of(fam.name)
        data = data.folds[0] if data.folds else data
        x = data.val.x[:LATENCY_ROWS] if len(data.val) else data.train.x[:LATENCY_ROWS]
        best = float("inf")
        # One thread where the backend can say so (torch): a model's latency, not the
        # machine's load (LightningBackend.one_thread).
        with getattr(fam.backend, "one_thread", contextlib.nullcontext)():
            fam.backend.predict(model, x, task)
            for _ in range(LATENCY_WINDOWS):
                times = []
                for _ in range(LATENCY_CALLS):
                    start = time.perf_counter()
                    fam.backend.predict(model, x, task)
                    times.append(time.perf_counter() - start)
                best = min(best, statistics.median(times))
                if max(times) <= 2 * min(times):
                    break
        return 1000.0 * best

    def refit(
        self,
        cfg: object,
        data: Dataset,
        budget: dict[str, Any],
        *,
        family: str | None = None,
        workdir: str | Path | None = None,
        seed: int = 0,
    ) -> FitResult:
        """Retrain ``cfg`` on ``data.train`` for ``budget`` (no validation data)."""
        fam = self.family(family)
        return refit_config(fam.backend, fam.plugin, cfg, data, budget, workdir=workdir, seed=seed)
