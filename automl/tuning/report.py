"""The study report's Optuna side: open the study, read it, and draw what Optuna draws.

``write_report`` opens a stored study read-only (``automl.tuning.stored``), reads it into a
``StudySnapshot`` and hands it down to ``automl.results.report.draw_report`` together with
``OptunaPlots``: Optuna's plots of the study (history, parallel coordinates, slices, Pareto
front) and its fANOVA importances, which need the ``optuna.Study``. Importing this module
imports no training code and not the study loop.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from automl.tuning.stored import StoredStudy, open_stored

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from matplotlib.axes import Axes

__all__ = ["write_report", "OptunaPlots"]

Target = Callable[[Any], float] | None


@contextmanager
def _quiet() -> Iterator[None]:
    """Optuna marks its matplotlib plots experimental; that is not news for a report reader."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


class OptunaPlots:
    """``automl.results.report.plotting.StudyPlots`` drawn by Optuna from the study."""

    def __init__(self, study: optuna.Study) -> None:
        self.study = study

    def importances(self, target: Target) -> dict[str, float]:
        values = optuna.importance.get_param_importances(
            self.study,
            evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            target=target,
        )
        return {k: float(v) for k, v in values.items()}

    def history(self, target: Target, target_name: str) -> go.Figure:
        import optuna.visualization as vis

        return vis.plot_optimization_history(self.study, target=target, target_name=target_name)

    def history_axes(self, target: Target, target_name: str) -> Axes:
        import optuna.visualization.matplotlib as vis_mpl

        with _quiet():
            return vis_mpl.plot_optimization_history(
                self.study, target=target, target_name=target_name
            )

    def parallel_coordinate(
        self, params: Sequence[str], target: Target, target_name: str
    ) -> go.Figure:
        import optuna.visualization as vis

        return vis.plot_parallel_coordinate(
            self.study, params=list(params), target=target, target_name=target_name
        )

    def slice(self, params: Sequence[str], target: Target, target_name: str) -> go.Figure:
        import optuna.visualization as vis

        return vis.plot_slice(
            self.study, params=list(params), target=target, target_name=target_name
        )

    def pareto_front(self, target_names: Sequence[str]) -> go.Figure:
        import optuna.visualization as vis

        return vis.plot_pareto_front(self.study, target_names=list(target_names))

    def pareto_front_axes(self, target_names: Sequence[str]) -> Axes:
        import optuna.visualization.matplotlib as vis_mpl

        with _quiet():
            return vis_mpl.plot_pareto_front(self.study, target_names=list(target_names))

    def front(self) -> list[int]:
        return [t.number for t in self.study.best_trials]


def write_report(
    storage: str | os.PathLike[str] | optuna.storages.BaseStorage,
    study_name: str,
    run_dir: str | Path | None,
    out_dir: str | Path | None = None,
) -> Path:
    """Write the report of a stored study (``automl.results.report.draw_report``).

    Args:
        storage: An Optuna storage object, or what ``python -m automl report`` accepts: a run
            directory, an SQLAlchemy URL or a journal file (opened read-only).
        study_name: The study.
        run_dir: The run directory (for ``best/``: test predictions and metrics; and the
            default output place). ``None`` with a string ``storage`` uses the one it names.
        out_dir: Where to write; default ``<run dir>/report`` (``runs/<study>/report``
            without a run directory).

    Returns:
        The path of ``index.html``.
    """
    from automl.results.report import draw_report

    if isinstance(storage, (str, os.PathLike)):
        stored = open_stored(str(storage), study_name)
    else:
        stored = StoredStudy(storage=storage, name=study_name, run_dir=None, where=study_name)
    study = stored.load()
    snapshot = stored.snapshot(study)
    found = Path(run_dir) if run_dir is not None else stored.run_dir
    return draw_report(snapshot, OptunaPlots(study), found, out_dir)
