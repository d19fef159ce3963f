"""Pruner names and the check of a pruner against the data protocol (no Optuna).

``automl.tuning.pruners`` builds the Optuna pruner; its constructor checks the arguments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from automl.core.errors import UserError
from automl.study.choices import Pruner, names

__all__ = ["PRUNERS", "PATIENT_KEYS", "check_pruner", "pruner_wants_fold_values"]

PRUNERS = names(Pruner)
"""``sweep.pruner``'s names (``automl.study.choices.Pruner``)."""

PATIENT_KEYS = ("wrapped", "patience", "min_delta")
"""``sweep.pruner_args`` keys the patient pruner takes itself; the rest go to the wrapped one."""


def pruner_wants_fold_values(name: str) -> bool:
    """Whether a k-fold trial must report each fold's own value at step = fold index.

    The other pruners compare trials step by step on the running mean over folds; the
    Wilcoxon pruner tests the per-fold differences between a trial and the best trial, so it
    needs the folds' own values (and the trial's value must be their mean).
    """
    return name == "wilcoxon"


def check_pruner(name: str, args: Mapping[str, Any] | None = None, *, folds: int | None) -> None:
    """Check a pruner against the data protocol (the constructor checks its arguments).

    Args:
        name: ``sweep.pruner``.
        args: ``sweep.pruner_args``.
        folds: ``data.folds`` (``None`` or 0 without k-fold cross-validation).

    Raises:
        UserError: ``wilcoxon`` without k-fold data, or with too few folds to ever prune;
            ``patient`` wrapping itself or ``wilcoxon``.
    """
    if name not in PRUNERS:
        raise UserError(f"sweep.pruner={name!r} is not one of {', '.join(PRUNERS)}")
    args = dict(args or {})
    if name == "patient":
        wrapped = args.get("wrapped", "median")
        if wrapped in ("patient", "wilcoxon") or wrapped not in PRUNERS:
            valid = ", ".join(p for p in PRUNERS if p not in ("patient", "wilcoxon"))
            raise UserError(
                f"sweep.pruner_args.wrapped={wrapped!r}: the patient pruner wraps one of {valid}"
            )
    if name == "wilcoxon":
        if not folds:
            raise UserError(
                "sweep.pruner=wilcoxon compares a trial's per-fold results with the best "
                "trial's, so it needs k-fold data: set data.folds=5 (or more), or use median"
            )
        p = float(args.get("p_threshold", 0.1))
        # n folds' differences all of one sign give the smallest one-sided p-value, 2^-n;
        # pruning after the last fold saves nothing, so folds - 1 must be able to go below p.
        if p <= 0 or 2.0 ** -(folds - 1) >= p:
            need = math.floor(math.log2(1 / p)) + 2 if p > 0 else "more"
            raise UserError(
                f"sweep.pruner=wilcoxon with data.folds={folds} can never prune at "
                f"p_threshold={p} (n folds reach p >= 2^-n); use data.folds>={need} "
                "or a larger sweep.pruner_args.p_threshold"
            )
