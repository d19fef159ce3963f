"""What the parameters did: their fANOVA importances, parallel coordinates and slice plots.

The importances are computed once (Optuna's importance plot would compute them again; they
come from ``Context.plots``, in ``automl.tuning``) and give the order in which the other two
figures take the parameters. The interactive parallel coordinates and slices are Optuna's
plotly plots; their PNGs are drawn here with matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automl.results.report.plotting import COMPLETE, Context, Figure, pyplot, save_png, style


def importances(ctx: Context) -> tuple[Figure, dict[str, float]]:
    """fANOVA importance of each parameter for the (first) objective."""
    fig = Figure(
        "importance",
        "Parameter importance",
        f"Share of the variance of {ctx.names[0]} explained by each parameter (fANOVA).",
    )
    params = {name for t in ctx.complete for name in t.params}
    if len(ctx.complete) < 2 or not params:
        have = len(ctx.complete)
        fig.note = (
            "too few complete trials to estimate importances "
            f"({have} complete; fANOVA needs at least 2 and a searched parameter)"
        )
        return fig, {}
    try:
        values = ctx.plots.importances(ctx.target)
    except (ValueError, RuntimeError) as exc:
        fig.note = f"importances could not be estimated: {str(exc).splitlines()[0]}"
        return fig, {}
    values = {k: float(v) for k, v in values.items()}
    from automl.results.trust import importance_warning

    fig.note = importance_warning(len(ctx.complete), len(params))
    names = list(values)[::-1]  # least important at the bottom of a horizontal bar chart
    import plotly.graph_objects as go

    bars = go.Bar(
        x=[values[n] for n in names],
        y=names,
        orientation="h",
        marker_color=COMPLETE,
        text=[f"{values[n]:.2f}" for n in names],
        textposition="outside",
    )
    fig.plotly = style(go.Figure(bars), fig.title, 120 + 30 * len(names))
    fig.plotly.update_xaxes(title="importance", range=[0, max(values.values()) * 1.15 or 1])
    plt = pyplot()
    with plt.style.context("ggplot"):
        figure, ax = plt.subplots()
        ax.barh(names, [values[n] for n in names], color=COMPLETE)
        for i, n in enumerate(names):
            ax.text(values[n], i, f" {values[n]:.2f}", va="center", fontsize=9)
        ax.set_xlabel(f"importance for {ctx.names[0]} (fANOVA)")
        ax.set_xlim(0, max(values.values()) * 1.2 or 1)
        ax.set_title(fig.title)
        fig.png = save_png(figure, ctx.out_dir / "importance.png", (8, 1.2 + 0.4 * len(names)))
    return fig, values


def parallel(ctx: Context, order: Sequence[str]) -> Figure:
    """Each complete trial as a line through its parameter values to its objective."""
    fig = Figure(
        "parallel_coordinates",
        "Parallel coordinates",
        "Each line is a complete trial through its parameter values; colour is the objective.",
    )
    if not ctx.complete or not order:
        fig.note = "needs a complete trial with searched parameters"
        return fig
    params = list(order)[:10]
    plot = ctx.plots.parallel_coordinate(params, ctx.target, ctx.names[0])
    fig.plotly = style(plot, fig.title, 500)
    fig.png = _parallel_png(ctx, params, ctx.out_dir / "parallel_coordinates.png")
    if len(order) > len(params):
        fig.note = f"the {len(params)} most important of {len(order)} parameters"
    return fig


def slices(ctx: Context, order: Sequence[str], top: int = 4) -> Figure:
    """Objective against each of the most important parameters."""
    params = list(order)[:top]
    fig = Figure(
        "slice",
        "Slice plots of the top parameters",
        f"{ctx.names[0]} against each of the {len(params)} most important parameters "
        "(one point per complete trial, coloured by trial number).",
    )
    if not ctx.complete or not params:
        fig.note = "needs a complete trial with searched parameters"
        return fig
    fig.plotly = style(ctx.plots.slice(params, ctx.target, ctx.names[0]), fig.title, 420)
    fig.png = _slice_png(ctx, params, ctx.out_dir / "slice.png")
    return fig


def _objective(trial: Any) -> float:
    return float(trial.values[0])


def _axis_values(ctx: Context, name: str) -> tuple[list[float], list[str] | None, bool]:
    """A parameter's value in each complete trial as a number (``nan`` where it is missing),
    the category names of a categorical one, and whether it is searched on a log scale."""
    dist = next((t.distributions[name] for t in ctx.complete if name in t.distributions), None)
    choices = getattr(dist, "choices", None)
    log = bool(getattr(dist, "log", False))
    values: list[float] = []
    for t in ctx.complete:
        value = t.params.get(name)
        if value is None:
            values.append(float("nan"))
        elif choices is not None:
            values.append(float(list(choices).index(value)) if value in choices else float("nan"))
        else:
            values.append(float(value))
    return values, ([str(c) for c in choices] if choices is not None else None), log


def _parallel_png(ctx: Context, params: Sequence[str], path: Path) -> Path:
    """Each complete trial as a line across normalized parameter axes, coloured by objective."""
    import numpy as np

    plt = pyplot()
    objective = np.array([_objective(t) for t in ctx.complete])
    maximize = ctx.directions[0] == "maximize"
    columns, ticks = [], []
    for name in params:
        raw, categories, log = _axis_values(ctx, name)
        values = np.array(raw, dtype=float)
        if log:
            values = np.log10(values)
        if categories is not None:
            low, high = 0.0, float(max(len(categories) - 1, 1))
            positions = [(i - low) / (high - low) for i in range(len(categories))]
            ticks.append((positions, categories))
        else:
            finite = values[np.isfinite(values)]
            low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
            if high == low:
                high = low + 1.0
            marks = np.linspace(low, high, 3)
            shown = 10**marks if log else marks
            ticks.append(([0.0, 0.5, 1.0], [f"{v:.3g}" for v in shown]))
        columns.append((values - low) / (high - low))
    finite = objective[np.isfinite(objective)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    span = high - low or 1.0
    columns.append((objective - low) / span)
    ticks.append(([0.0, 0.5, 1.0], [f"{low + f * span:.4g}" for f in (0.0, 0.5, 1.0)]))
    data = np.vstack(columns).T  # trials x axes
    with plt.style.context("default"):
        figure, ax = plt.subplots()
        cmap = plt.get_cmap("viridis" if maximize else "viridis_r")
        norm = plt.Normalize(low, high if high > low else low + 1.0)
        x = np.arange(data.shape[1])
        order = np.argsort(objective if maximize else -objective)  # best drawn last, on top
        for i in order:
            ax.plot(x, data[i], color=cmap(norm(objective[i])), alpha=0.75, linewidth=1.3)
        for j, (positions, labels) in enumerate(ticks):
            ax.axvline(j, color="#444", linewidth=0.8, zorder=0)
            for pos, label in zip(positions, labels, strict=True):
                ax.text(j + 0.04, pos, label, fontsize=7, va="center", color="#333")
        ax.set_xticks(x, [*params, ctx.names[0]], rotation=20, ha="right")
        ax.set_yticks([])
        ax.set_xlim(-0.1, len(x) - 0.5)
        ax.set_ylim(-0.05, 1.05)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        bar = figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.02)
        bar.set_label(ctx.names[0])
        ax.set_title("Parallel coordinates (complete trials; brighter is better)")
        width = max(8.0, 1.2 * (len(params) + 1) + 1.5)
        return save_png(figure, path, (width, 4.8))


def _slice_png(ctx: Context, params: Sequence[str], path: Path) -> Path:
    """Objective against each parameter, one panel per parameter, coloured by trial number."""
    import numpy as np
    from matplotlib.ticker import NullFormatter

    plt = pyplot()
    objective = [_objective(t) for t in ctx.complete]
    numbers = [t.number for t in ctx.complete]
    with plt.style.context("ggplot"):
        figure, axes = plt.subplots(1, len(params), sharey=True, squeeze=False)
        for ax, name in zip(axes[0], params, strict=True):
            raw, categories, log = _axis_values(ctx, name)
            x = np.array(raw, dtype=float)
            if categories is not None:
                jitter = np.random.default_rng(0).uniform(-0.08, 0.08, len(x))
                x = x + jitter
                ax.set_xticks(range(len(categories)), categories)
                ax.set_xlim(-0.5, len(categories) - 0.5)
            elif log:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            points = ax.scatter(
                x, objective, c=numbers, cmap="viridis", s=28, edgecolors="white", linewidths=0.5
            )
            ax.set_xlabel(name)
        axes[0][0].set_ylabel(ctx.names[0])
        bar = figure.colorbar(points, ax=list(axes[0]), pad=0.01)
        bar.set_label("trial number")
        figure.suptitle("Slice plots of the top parameters")
        return save_png(figure, path, (max(4.0, 3.4 * len(params)) + 1.2, 3.8))
