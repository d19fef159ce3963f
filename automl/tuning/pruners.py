"""Pruners by name, from ``sweep.pruner`` and ``sweep.pruner_args``.

Whether a pruner fits the data protocol is decided in ``automl.study.search`` (no Optuna there);
this module builds the Optuna objects, with automl's defaults under the user's arguments.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning

from automl.core.errors import UserError
from automl.study.search import PATIENT_KEYS, PRUNERS, check_pruner

__all__ = ["make_pruner", "study_pruner", "PRUNER_DEFAULTS"]

# Defaults tuned for short studies (tens of trials, tens of epochs): judge after a few
# complete trials and a few epochs. User ``sweep.pruner_args`` override them key by key.
# On LCBench (benchmarks/lcbench.py, docs/benchmarks.md) the median pruner with these beat
# successive halving, Hyperband and DEHB on mean rank; a 10-epoch warm-up was worse.
PRUNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "median": {"n_startup_trials": 4, "n_warmup_steps": 3},
    # Keeps the top quarter at each step (median keeps the top half).
    "percentile": {"percentile": 25.0, "n_startup_trials": 4, "n_warmup_steps": 3},
    # Rungs at 2, 6, 18, 54... steps; a third of the trials reaching a rung go on.
    "successive_halving": {"min_resource": 2, "reduction_factor": 3},
    "hyperband": {"min_resource": 2, "reduction_factor": 3},
    # Prunes when the wrapped pruner says so and the trial's best over its last patience + 1
    # steps is worse than its best before them (a trial still improving is spared).
    "patient": {"wrapped": "median", "patience": 3},
    "wilcoxon": {"p_threshold": 0.1, "n_startup_steps": 2},
    "threshold": {},
    "none": {},
}


def make_pruner(name: str, args: Mapping[str, Any] | None = None) -> optuna.pruners.BasePruner:
    """A pruner by name; ``args`` go to its constructor on top of ``PRUNER_DEFAULTS``.

    ``patient`` takes ``wrapped`` (another pruner's name, or ``none`` for plain patience),
    ``patience`` and ``min_delta``; its other arguments go to the wrapped pruner. Whether a
    pruner fits the data protocol (``wilcoxon`` needs k-fold data) is
    ``automl.study.search.check_pruner``.

    Raises:
        UserError: An unknown pruner, or arguments its constructor rejects.
    """
    # Optuna marks the patient and Wilcoxon pruners experimental; they are chosen by name.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return _pruner(name, args)


def _pruner(name: str, args: Mapping[str, Any] | None) -> optuna.pruners.BasePruner:
    pruners = optuna.pruners
    classes = {
        "median": pruners.MedianPruner,
        "percentile": pruners.PercentilePruner,
        "successive_halving": pruners.SuccessiveHalvingPruner,
        "hyperband": pruners.HyperbandPruner,
        "wilcoxon": pruners.WilcoxonPruner,
        "threshold": pruners.ThresholdPruner,
    }
    if name not in PRUNERS:
        raise UserError(f"sweep.pruner={name!r} is not one of {', '.join(PRUNERS)}")
    if name == "none":
        return pruners.NopPruner()  # arguments a recipe set for its pruner are moot
    kwargs = {**PRUNER_DEFAULTS[name], **dict(args or {})}
    if name == "patient":
        check_pruner(name, kwargs, folds=None)
        own = {k: kwargs.pop(k) for k in PATIENT_KEYS if k in kwargs}
        wrapped = own.pop("wrapped")
        inner = None
        if wrapped != "none":
            inner = _pruner(wrapped, kwargs)
        elif kwargs:
            raise UserError(
                f"sweep.pruner_args {sorted(kwargs)}: the patient pruner with wrapped=none "
                f"takes only {', '.join(PATIENT_KEYS)}"
            )
        try:
            return pruners.PatientPruner(inner, **own)
        except (TypeError, ValueError) as exc:
            raise UserError(
                f"sweep.pruner_args {dict(args or {})} do not fit the patient pruner ({exc}); "
                f"it takes {', '.join(PATIENT_KEYS)} and the wrapped pruner's arguments"
            ) from None
    try:
        return classes[name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"sweep.pruner_args {dict(args or {})} do not fit the {name} pruner ({exc}); "
            f"see optuna.pruners.{classes[name].__name__}"
        ) from None


def study_pruner(
    name: str,
    args: Mapping[str, Any] | None,
    *,
    prunable: bool,
    multi: bool,
    families: bool,
) -> optuna.pruners.BasePruner:
    """The pruner a study is created with.

    Args:
        name: ``sweep.pruner``.
        args: ``sweep.pruner_args``.
        prunable: The first objective is the metric reported while training
            (``Goal.prunable``); otherwise nothing is pruned.
        multi: Several objectives: the pruner judges the first one
            (``automl.tuning.objective_pruner``), since Optuna prunes single-objective
            studies only.
        families: A ``model=auto`` study: the pruner judges each trial against its own
            family's trials only (``automl.tuning.family_pruner``).
    """
    if not prunable or name == "none":
        return optuna.pruners.NopPruner()
    pruner = make_pruner(name, args)
    if families:
        from automl.tuning.family_pruner import FamilyPruner

        # make_pruner above checked its arguments now, not at the first report.
        pruner = FamilyPruner(functools.partial(make_pruner, name, args))
    if multi:
        from automl.tuning.objective_pruner import FirstObjectivePruner

        pruner = FirstObjectivePruner(pruner)
    return pruner
