"""The report's figures: each one an interactive plotly figure (for the HTML) and a PNG.

Optuna's own plots draw the search (``optuna.visualization`` for plotly, its ``matplotlib``
twin for the PNGs); the learning curves, importances and test-split figures are drawn here,
because Optuna's versions do not mark pruned trials, would recompute importances per plot, or
do not exist. Every builder returns a ``Figure`` whose ``note`` says why it was left out when
the study cannot support it (too few trials, no predictions), instead of raising.

The figures are drawn by family: ``optimization`` (history, Pareto front), ``params``
(importances, parallel coordinates, slices), ``curves`` (learning curves) and ``evaluation``
(the test split); ``plotting`` holds what they share. This module picks and orders them.
"""

from __future__ import annotations

from automl.results.report.curves import learning_curves
from automl.results.report.evaluation import confusion, predicted_vs_true
from automl.results.report.optimization import history, pareto
from automl.results.report.params import importances, parallel, slices
from automl.results.report.plotting import Context, Figure
from automl.results.report.timeline import timeline

__all__ = ["Figure", "Context", "build_figures"]


def build_figures(ctx: Context, prediction_note: str | None) -> list[Figure]:
    """Every figure the study supports, in reading order; left-out ones carry a note."""
    figures = [history(ctx)]
    importance, values = importances(ctx)
    searched = list(dict.fromkeys(n for t in ctx.complete for n in t.params))
    varied = [n for n in searched if len({repr(t.params.get(n)) for t in ctx.complete}) > 1]
    order = list(values) + [n for n in varied if n not in values]
    figures.append(importance)
    figures.append(parallel(ctx, order or searched))
    figures.append(slices(ctx, order or searched))
    figures.append(learning_curves(ctx))
    figures.append(timeline(ctx))
    front = pareto(ctx)
    if front is not None:
        figures.append(front)
    if ctx.predictions is None:
        figures.append(
            Figure(
                "test_split",
                "Best model on the test split",
                "",
                note=prediction_note or "no test predictions",
            )
        )
    elif ctx.predictions.task == "classification":
        figures.extend(confusion(ctx))
    else:
        figures.extend(predicted_vs_true(ctx))
    return figures
