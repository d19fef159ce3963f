"""One study in one process: the loop, every trial's record, and every use of Optuna.

Owns the study loop (``study``: ``run_study``), opening and identity checks (``opening``),
storages (``storage``, ``lock``, ``admission``), a trial (``objective``), samplers and
pruners by name (``factories``, ``samplers``, ``pruners``, ``family_pruner``), seeds and
duplicates (``sampling``), re-runs (``retry``, ``lost``), warm starts (``warm``), the
outcome and the finish (``outcome``, ``finish``, ``selection``), the parent's read of a
fleet's study (``fleet``), stop signals (``signals``), reading a stored study for the tools
that draw it (``stored``, ``report``), and every use of Optuna's private internals
(``internals``). It is the only package that imports Optuna. It may import ``results``,
``study``, ``backends``, ``data`` and ``core``; never ``serving``, ``parallel`` or the
command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.tuning.factories import make_pruner, make_sampler
    from automl.tuning.storage import make_storage
    from automl.tuning.study import StudyOutcome, run_study

__all__ = ["make_pruner", "make_sampler", "make_storage", "run_study", "StudyOutcome"]

# Imported on first use: the read-only tools (``stored``, ``report``) import this package and
# must not pay for the study loop.
_WHERE = {
    "make_pruner": "factories",
    "make_sampler": "factories",
    "make_storage": "storage",
    "run_study": "study",
    "StudyOutcome": "study",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'automl.tuning' has no attribute {name!r}")
    return getattr(importlib.import_module(f"automl.tuning.{_WHERE[name]}"), name)
