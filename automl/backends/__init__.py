"""Training backends, one per model kind, behind one small protocol.

The kind of a model plugin (``lightning`` or ``estimator``) is looked at exactly once, in
``backend_for``; everything else (the holdout/k-fold/refit protocol, the export, the loader)
talks to a ``Backend``. Importing this package is cheap: a backend imports torch, Lightning or
the estimator's library only when it is created. It may import ``data`` and ``core``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl.backends.base import Backend, Direction, FitResult, Goal, TrainerSettings

if TYPE_CHECKING:
    from automl.core.plugin import ModelPlugin

__all__ = ["Backend", "FitResult", "Goal", "backend_for", "Direction"]


def backend_for(plugin: ModelPlugin, trainer_cfg: TrainerSettings) -> Backend:
    """The backend of ``plugin``'s kind; the only place that branches on the kind.

    Raises:
        UserError: Lightning cannot train with ``trainer_cfg`` on this machine.
    """
    if plugin.kind == "lightning":
        from automl.backends.lightning import LightningBackend

        return LightningBackend(trainer_cfg)
    from automl.backends.estimator import EstimatorBackend

    return EstimatorBackend(trainer_cfg)
