"""What every report figure shares: the ``Figure`` and ``Context`` records, the colours of
trial states, the plotting setup (matplotlib without a display, PNGs written atomically,
plotly figures fitted to the page), and ``StudyPlots``: what the report asks of the search
library (Optuna's plots of the study and its importances, drawn in ``automl.tuning.report``;
this package imports no Optuna).

Plotting libraries are imported inside the helpers, so that importing the report stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from automl.core.atomic import atomic_path
from automl.results.report.predictions import Predictions

if TYPE_CHECKING:
    import plotly.graph_objects as go
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure as MplFigure

# A trial's colour by what it became (and the selected one), the same in every figure.
COMPLETE, PRUNED, BEST, FAILED, RUNNING = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"
_DPI = 150


@dataclass
class Figure:
    """One figure of the report.

    Attributes:
        name: File stem of its PNG (``history`` -> ``history.png``).
        title: Heading.
        caption: One sentence on how to read it.
        plotly: The interactive figure, or ``None`` when left out.
        png: Path of the written PNG, or ``None``.
        note: Why the figure was left out (or what limits it).
        html: Extra HTML shown below the figure (e.g. a table of per-class metrics).
    """

    name: str
    title: str
    caption: str
    plotly: Any = None
    png: Path | None = None
    note: str | None = None
    html: str = ""


Target = Callable[[Any], float] | None
"""Optuna's ``target`` argument: which value of a trial a plot shows (``None``: its value)."""


class StudyPlots(Protocol):
    """What the report asks of the search library about one study (``automl.tuning.report``
    answers with Optuna's own plots): each plot as a plotly figure, and as matplotlib axes
    for the PNGs where Optuna draws one."""

    def importances(self, target: Target) -> dict[str, float]:
        """fANOVA importance of each parameter, most important first.

        Raises:
            ValueError: Too few trials, or nothing to estimate.
            RuntimeError: The estimate failed.
        """
        ...

    def history(self, target: Target, target_name: str) -> go.Figure:
        """The optimization history (plotly)."""
        ...

    def history_axes(self, target: Target, target_name: str) -> Axes:
        """The optimization history (matplotlib axes)."""
        ...

    def parallel_coordinate(
        self, params: Sequence[str], target: Target, target_name: str
    ) -> go.Figure:
        """Complete trials through their parameter values (plotly)."""
        ...

    def slice(self, params: Sequence[str], target: Target, target_name: str) -> go.Figure:
        """The objective against each parameter (plotly)."""
        ...

    def pareto_front(self, target_names: Sequence[str]) -> go.Figure:
        """The Pareto front of a multi-objective study (plotly)."""
        ...

    def pareto_front_axes(self, target_names: Sequence[str]) -> Axes:
        """The Pareto front (matplotlib axes; 2 or 3 objectives)."""
        ...

    def front(self) -> list[int]:
        """The numbers of the trials on the Pareto front (several objectives)."""
        ...


@dataclass
class Context:
    """What the figures are drawn from.

    Attributes:
        directions: The study's directions (``maximize``, ...), one per objective.
        trials: Its trials (one read).
        names: Objective names, one per direction (``val_acc``).
        out_dir: Where PNGs go.
        predictions: The best model's test predictions, when exported.
        best_number: The selected trial (``None`` when none completed).
        plots: The search library's plots of the study.
    """

    directions: tuple[str, ...]
    trials: list[Any]
    names: list[str]
    out_dir: Path
    predictions: Predictions | None
    best_number: int | None
    plots: StudyPlots

    @property
    def multi(self) -> bool:
        """The study has several objectives."""
        return len(self.directions) > 1

    @property
    def target(self) -> Target:
        """Optuna's ``target`` argument: the first objective of a multi-objective study."""
        return (lambda t: t.values[0]) if self.multi else None

    @property
    def complete(self) -> list[Any]:
        """The complete trials, in order."""
        return [t for t in self.trials if t.state.name == "COMPLETE"]


def pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or opened
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: MplFigure, path: Path, size: tuple[float, float] | None = None) -> Path:
    """Write a matplotlib figure to ``path`` as a PNG, atomically, and close it.

    Args:
        fig: The matplotlib figure.
        path: Where the PNG goes.
        size: Its size in inches, when the figure's own does not fit.

    Returns:
        ``path``.
    """
    plt = pyplot()
    if size is not None:
        fig.set_size_inches(*size)
    try:
        with atomic_path(path) as tmp:  # a reader never sees half a PNG
            fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path


def figure_of(axes: Any) -> Any:
    """The figure of what Optuna's matplotlib plots return (one axes or an array of them)."""
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return first.figure


def style(plotly_fig: go.Figure, title: str, height: int = 450) -> go.Figure:
    """Give a plotly figure the report's title, height and template; returns it."""
    # Optuna fixes some widths (a slice plot grows with its parameters): fit the page instead.
    plotly_fig.layout.width = None
    plotly_fig.update_layout(title=title, height=height, template="plotly_white", autosize=True)
    return plotly_fig
