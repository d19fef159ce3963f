"""How the search went: the optimization history and, with several objectives, the Pareto
front (both drawn by Optuna's own plots, plotly and matplotlib, through ``Context.plots``)."""

from __future__ import annotations

from automl.results.report.plotting import Context, Figure, figure_of, pyplot, save_png, style


def history(ctx: Context) -> Figure:
    """Objective of every complete trial, in order, with the best value so far."""
    fig = Figure(
        "history",
        "Optimization history",
        f"{ctx.names[0]} of each complete trial by trial number; the line is the best so far.",
    )
    if not ctx.complete:
        fig.note = "no trial completed yet"
        return fig
    fig.plotly = style(ctx.plots.history(ctx.target, ctx.names[0]), fig.title)
    plt = pyplot()
    with plt.style.context("ggplot"):
        axes = ctx.plots.history_axes(ctx.target, ctx.names[0])
        fig.png = save_png(figure_of(axes), ctx.out_dir / "history.png", (8, 4.5))
    return fig


def pareto(ctx: Context) -> Figure | None:
    """The Pareto front of a multi-objective study (``None`` for single-objective ones)."""
    if not ctx.multi:
        return None
    fig = Figure(
        "pareto_front",
        "Pareto front",
        "Complete trials by their objectives; the front holds the trials no other beats on all.",
    )
    if not ctx.complete:
        fig.note = "no trial completed yet"
        return fig
    names = list(ctx.names)
    fig.plotly = style(ctx.plots.pareto_front(names), fig.title, 500)
    if len(names) > 3:
        fig.note = "a PNG is drawn for 2 or 3 objectives only"
        return fig
    plt = pyplot()
    with plt.style.context("ggplot"):
        axes = ctx.plots.pareto_front_axes(names)
        fig.png = save_png(figure_of(axes), ctx.out_dir / "pareto_front.png", (7, 5))
    return fig
