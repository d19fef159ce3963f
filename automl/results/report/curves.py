"""Learning curves: every trial's reported values by epoch (or step), pruned trials marked
where they were stopped (Optuna's intermediate-values plot does not mark them)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from automl.core.records import common_unit, record_of
from automl.results.leaderboard.text import trials
from automl.results.report.plotting import (
    BEST,
    COMPLETE,
    FAILED,
    PRUNED,
    RUNNING,
    Context,
    Figure,
    pyplot,
    save_png,
    style,
)

if TYPE_CHECKING:
    from automl.core.records import StoredTrialView


def _curve(trial: StoredTrialView) -> tuple[list[int], list[float]]:
    steps = sorted(trial.intermediate_values)
    pairs = [(s + 1, float(trial.intermediate_values[s])) for s in steps]
    pairs = [(s, v) for s, v in pairs if math.isfinite(v)]
    return [s for s, _ in pairs], [v for _, v in pairs]


def learning_curves(ctx: Context) -> Figure:
    """Every trial's reported values by epoch (or step), pruned trials marked where they stopped."""
    curves = [(t, *_curve(t)) for t in ctx.trials]
    curves = [(t, x, y) for t, x, y in curves if x]
    # The trials' common unit (automl.core.records), else the generic "step".
    unit = common_unit(record_of(t).unit for t, _, _ in curves) or "step"
    fig = Figure(
        "learning_curves",
        "Learning curves",
        f"{ctx.names[0]} reported after each {unit} of every trial; an x marks where a pruned "
        "trial was stopped; the best trial is drawn thick.",
    )
    if not curves:
        fig.note = "no trial reported intermediate values"
        return fig
    import plotly.graph_objects as go

    def kind(trial: StoredTrialView) -> tuple[str, str]:
        if trial.number == ctx.best_number:
            return "best", BEST
        state = trial.state.name
        return {
            "COMPLETE": ("complete", COMPLETE),
            "PRUNED": ("pruned", PRUNED),
            "FAIL": ("failed", FAILED),
        }.get(state, ("running", RUNNING))

    plotly_fig = go.Figure()
    shown: set[str] = set()
    ordered = sorted(curves, key=lambda c: c[0].number == ctx.best_number)  # best on top
    for trial, x, y in ordered:
        label, colour = kind(trial)
        best = label == "best"
        plotly_fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines+markers" if len(x) == 1 else "lines",
                line={"color": colour, "width": 3 if best else 1.2},
                opacity=1.0 if best else 0.6,
                name=f"best (#{trial.number})" if best else label,
                legendgroup=label,
                showlegend=label not in shown,
                hovertemplate=f"trial #{trial.number}<br>{unit} %{{x}}<br>"
                f"{ctx.names[0]} %{{y:.4g}}<extra>{label}</extra>",
            )
        )
        shown.add(label)
        if label == "pruned":
            plotly_fig.add_trace(
                go.Scatter(
                    x=[x[-1]],
                    y=[y[-1]],
                    mode="markers",
                    marker={"symbol": "x", "size": 9, "color": PRUNED},
                    name="pruned here",
                    legendgroup="pruned-at",
                    showlegend="pruned-at" not in shown,
                    hovertemplate=f"trial #{trial.number} pruned after {unit} {x[-1]}"
                    "<extra></extra>",
                )
            )
            shown.add("pruned-at")
    style(plotly_fig, fig.title)
    plotly_fig.update_xaxes(title=unit)
    plotly_fig.update_yaxes(title=ctx.names[0])
    fig.plotly = plotly_fig

    plt = pyplot()
    with plt.style.context("ggplot"):
        figure, ax = plt.subplots()
        handles: dict[str, Any] = {}
        for trial, x, y in ordered:
            label, colour = kind(trial)
            best = label == "best"
            (line,) = ax.plot(
                x,
                y,
                color=colour,
                linewidth=2.6 if best else 1.0,
                alpha=1.0 if best else 0.55,
                marker="o" if len(x) == 1 else None,
                zorder=3 if best else 2,
            )
            handles.setdefault(f"best (#{trial.number})" if best else label, line)
            if label == "pruned":
                mark = ax.scatter([x[-1]], [y[-1]], marker="x", color=PRUNED, s=40, zorder=4)
                handles.setdefault("pruned here", mark)
        ax.set_xlabel(unit)
        ax.set_ylabel(ctx.names[0])
        ax.set_title(fig.title)
        ax.legend(handles.values(), handles.keys(), loc="best", fontsize=9)
        fig.png = save_png(figure, ctx.out_dir / "learning_curves.png", (8, 4.5))
    pruned = sum(1 for t, _, _ in curves if t.state.name == "PRUNED")
    fig.caption += f" {trials(len(curves))}, {pruned} pruned."
    return fig
