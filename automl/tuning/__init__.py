"""Optuna integration: the only package of automl that imports Optuna."""

from automl.tuning.factories import make_pruner, make_sampler
from automl.tuning.storage import make_storage
from automl.tuning.study import StudyOutcome, run_study

__all__ = ["make_pruner", "make_sampler", "make_storage", "run_study", "StudyOutcome"]
