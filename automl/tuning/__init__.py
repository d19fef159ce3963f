"""One study in one process: the loop, every trial's record, and every use of Optuna.

Owns the study loop (``study``: ``run_study``), opening and identity checks (``opening``),
storages (``storage``, ``lock``, ``admission``), a trial (``objective``), samplers and
pruners by name (``factories``, ``samplers``, ``pruners``, ``family_pruner``), seeds and
duplicates (``sampling``), re-runs (``retry``, ``lost``), warm starts (``warm``), the
outcome and the finish (``outcome``, ``finish``, ``selection``), the parent's read of a
fleet's study (``fleet``) and stop signals (``signals``). It may import ``results``,
``study``, ``backends``, ``data`` and ``core``; never ``serving``, ``parallel`` or the
command line.
"""

from automl.tuning.factories import make_pruner, make_sampler
from automl.tuning.storage import make_storage
from automl.tuning.study import StudyOutcome, run_study

__all__ = ["make_pruner", "make_sampler", "make_storage", "run_study", "StudyOutcome"]
