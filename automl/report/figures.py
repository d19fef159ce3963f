"""The report's figures: each one an interactive plotly figure (for the HTML) and a PNG.

Optuna's own plots draw the search (``optuna.visualization`` for plotly, its ``matplotlib``
twin for the PNGs); the learning curves, importances and test-split figures are drawn here,
because Optuna's versions do not mark pruned trials, would recompute importances per plot, or
do not exist. Every builder returns a ``Figure`` whose ``note`` says why it was left out when
the study cannot support it (too few trials, no predictions), instead of raising.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.atomic import atomic_path
from automl.records import record_of
from automl.report.predictions import Predictions

__all__ = ["Figure", "Context", "build_figures"]

_COMPLETE, _PRUNED, _BEST, _FAILED, _RUNNING = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"
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


@dataclass
class Context:
    """What the figures are drawn from.

    Attributes:
        study: The ``optuna.Study``.
        trials: Its trials (one read).
        names: Objective names, one per direction (``val_acc``).
        out_dir: Where PNGs go.
        predictions: The best model's test predictions, when exported.
        best_number: The selected trial (``None`` when none completed).
    """

    study: Any
    trials: list[Any]
    names: list[str]
    out_dir: Path
    predictions: Predictions | None
    best_number: int | None

    @property
    def multi(self) -> bool:
        return len(self.study.directions) > 1

    @property
    def target(self) -> Callable[[Any], float] | None:
        """Optuna's ``target`` argument: the first objective of a multi-objective study."""
        return (lambda t: t.values[0]) if self.multi else None

    @property
    def complete(self) -> list[Any]:
        return [t for t in self.trials if t.state.name == "COMPLETE"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display is needed or opened
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path, size: tuple[float, float] | None = None) -> Path:
    plt = _pyplot()
    if size is not None:
        fig.set_size_inches(*size)
    try:
        with atomic_path(path) as tmp:  # a reader never sees half a PNG
            fig.savefig(tmp, dpi=_DPI, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path


def _figure_of(axes: Any) -> Any:
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return first.figure


@contextmanager
def _quiet() -> Iterator[None]:
    """Optuna marks its matplotlib plots experimental; that is not news for a report reader."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _style(plotly_fig: Any, title: str, height: int = 450) -> Any:
    # Optuna fixes some widths (a slice plot grows with its parameters): fit the page instead.
    plotly_fig.layout.width = None
    plotly_fig.update_layout(title=title, height=height, template="plotly_white", autosize=True)
    return plotly_fig


def history(ctx: Context) -> Figure:
    """Objective of every complete trial, in order, with the best value so far."""
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vis_mpl

    fig = Figure(
        "history",
        "Optimization history",
        f"{ctx.names[0]} of each complete trial by trial number; the line is the best so far.",
    )
    if not ctx.complete:
        fig.note = "no trial completed yet"
        return fig
    kwargs = {"target": ctx.target, "target_name": ctx.names[0]}
    fig.plotly = _style(vis.plot_optimization_history(ctx.study, **kwargs), fig.title)
    plt = _pyplot()
    with _quiet(), plt.style.context("ggplot"):
        axes = vis_mpl.plot_optimization_history(ctx.study, **kwargs)
        fig.png = _save(_figure_of(axes), ctx.out_dir / "history.png", (8, 4.5))
    return fig


def importances(ctx: Context) -> tuple[Figure, dict[str, float]]:
    """fANOVA importance of each parameter for the (first) objective."""
    import optuna

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
        values = optuna.importance.get_param_importances(
            ctx.study,
            evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0),
            target=ctx.target,
        )
    except (ValueError, RuntimeError) as exc:
        fig.note = f"importances could not be estimated: {str(exc).splitlines()[0]}"
        return fig, {}
    values = {k: float(v) for k, v in values.items()}
    names = list(values)[::-1]  # least important at the bottom of a horizontal bar chart
    import plotly.graph_objects as go

    bars = go.Bar(
        x=[values[n] for n in names],
        y=names,
        orientation="h",
        marker_color=_COMPLETE,
        text=[f"{values[n]:.2f}" for n in names],
        textposition="outside",
    )
    fig.plotly = _style(go.Figure(bars), fig.title, 120 + 30 * len(names))
    fig.plotly.update_xaxes(title="importance", range=[0, max(values.values()) * 1.15 or 1])
    plt = _pyplot()
    with plt.style.context("ggplot"):
        figure, ax = plt.subplots()
        ax.barh(names, [values[n] for n in names], color=_COMPLETE)
        for i, n in enumerate(names):
            ax.text(values[n], i, f" {values[n]:.2f}", va="center", fontsize=9)
        ax.set_xlabel(f"importance for {ctx.names[0]} (fANOVA)")
        ax.set_xlim(0, max(values.values()) * 1.2 or 1)
        ax.set_title(fig.title)
        fig.png = _save(figure, ctx.out_dir / "importance.png", (8, 1.2 + 0.4 * len(names)))
    return fig, values


def parallel(ctx: Context, order: Sequence[str]) -> Figure:
    """Each complete trial as a line through its parameter values to its objective."""
    import optuna.visualization as vis

    fig = Figure(
        "parallel_coordinates",
        "Parallel coordinates",
        "Each line is a complete trial through its parameter values; colour is the objective.",
    )
    if not ctx.complete or not order:
        fig.note = "needs a complete trial with searched parameters"
        return fig
    params = list(order)[:10]
    kwargs = {"params": params, "target": ctx.target, "target_name": ctx.names[0]}
    fig.plotly = _style(vis.plot_parallel_coordinate(ctx.study, **kwargs), fig.title, 500)
    fig.png = _parallel_png(ctx, params, ctx.out_dir / "parallel_coordinates.png")
    if len(order) > len(params):
        fig.note = f"the {len(params)} most important of {len(order)} parameters"
    return fig


def slices(ctx: Context, order: Sequence[str], top: int = 4) -> Figure:
    """Objective against each of the most important parameters."""
    import optuna.visualization as vis

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
    kwargs = {"params": params, "target": ctx.target, "target_name": ctx.names[0]}
    fig.plotly = _style(vis.plot_slice(ctx.study, **kwargs), fig.title, 420)
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

    plt = _pyplot()
    objective = np.array([_objective(t) for t in ctx.complete])
    maximize = ctx.study.directions[0].name == "MAXIMIZE"
    columns, ticks = [], []
    for name in params:
        raw, categories, log = _axis_values(ctx, name)
        values = np.array(raw, dtype=float)
        if log:
            values = np.log10(values)
        if categories is not None:
            low, high = 0.0, max(len(categories) - 1, 1)
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
        return _save(figure, path, (width, 4.8))


def _slice_png(ctx: Context, params: Sequence[str], path: Path) -> Path:
    """Objective against each parameter, one panel per parameter, coloured by trial number."""
    import numpy as np
    from matplotlib.ticker import NullFormatter

    plt = _pyplot()
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
        return _save(figure, path, (max(4.0, 3.4 * len(params)) + 1.2, 3.8))


def _curve(trial: Any) -> tuple[list[int], list[float]]:
    steps = sorted(trial.intermediate_values)
    pairs = [(s + 1, float(trial.intermediate_values[s])) for s in steps]
    pairs = [(s, v) for s, v in pairs if math.isfinite(v)]
    return [s for s, _ in pairs], [v for _, v in pairs]


def learning_curves(ctx: Context) -> Figure:
    """Every trial's reported values by epoch (or step), pruned trials marked where they stopped."""
    curves = [(t, *_curve(t)) for t in ctx.trials]
    curves = [(t, x, y) for t, x, y in curves if x]
    units = {record_of(t).unit for t, _, _ in curves} - {None}
    unit = units.pop() if len(units) == 1 else "step"
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

    def kind(trial: Any) -> tuple[str, str]:
        if trial.number == ctx.best_number:
            return "best", _BEST
        state = trial.state.name
        return {
            "COMPLETE": ("complete", _COMPLETE),
            "PRUNED": ("pruned", _PRUNED),
            "FAIL": ("failed", _FAILED),
        }.get(state, ("running", _RUNNING))

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
                    marker={"symbol": "x", "size": 9, "color": _PRUNED},
                    name="pruned here",
                    legendgroup="pruned-at",
                    showlegend="pruned-at" not in shown,
                    hovertemplate=f"trial #{trial.number} pruned after {unit} {x[-1]}"
                    "<extra></extra>",
                )
            )
            shown.add("pruned-at")
    _style(plotly_fig, fig.title)
    plotly_fig.update_xaxes(title=unit)
    plotly_fig.update_yaxes(title=ctx.names[0])
    fig.plotly = plotly_fig

    plt = _pyplot()
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
                mark = ax.scatter([x[-1]], [y[-1]], marker="x", color=_PRUNED, s=40, zorder=4)
                handles.setdefault("pruned here", mark)
        ax.set_xlabel(unit)
        ax.set_ylabel(ctx.names[0])
        ax.set_title(fig.title)
        ax.legend(handles.values(), handles.keys(), loc="best", fontsize=9)
        fig.png = _save(figure, ctx.out_dir / "learning_curves.png", (8, 4.5))
    pruned = sum(1 for t, _, _ in curves if t.state.name == "PRUNED")
    fig.caption += f" {len(curves)} trials, {pruned} pruned."
    return fig


def pareto(ctx: Context) -> Figure | None:
    """The Pareto front of a multi-objective study (``None`` for single-objective ones)."""
    if not ctx.multi:
        return None
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vis_mpl

    fig = Figure(
        "pareto_front",
        "Pareto front",
        "Complete trials by their objectives; the front holds the trials no other beats on all.",
    )
    if not ctx.complete:
        fig.note = "no trial completed yet"
        return fig
    names = list(ctx.names)
    fig.plotly = _style(vis.plot_pareto_front(ctx.study, target_names=names), fig.title, 500)
    if len(names) > 3:
        fig.note = "a PNG is drawn for 2 or 3 objectives only"
        return fig
    plt = _pyplot()
    with _quiet(), plt.style.context("ggplot"):
        axes = vis_mpl.plot_pareto_front(ctx.study, target_names=names)
        fig.png = _save(_figure_of(axes), ctx.out_dir / "pareto_front.png", (7, 5))
    return fig


def confusion(ctx: Context) -> list[Figure]:
    """Confusion matrix and per-class precision/recall/F1 of the best model on the test split."""
    import html

    import numpy as np
    import plotly.graph_objects as go

    preds = ctx.predictions
    assert preds is not None
    labels = preds.labels()
    matrix = preds.confusion()
    fig = Figure(
        "confusion_matrix",
        "Confusion matrix (test split)",
        f"Rows: true class; columns: predicted class; {len(preds.y_true)} test samples, "
        f"accuracy {preds.accuracy():.4f}.",
    )
    fig.plotly = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="true %{y}<br>predicted %{x}<br>%{z} samples<extra></extra>",
        )
    )
    _style(fig.plotly, fig.title, 200 + 35 * len(labels))
    fig.plotly.update_yaxes(autorange="reversed", title="true", type="category")
    fig.plotly.update_xaxes(title="predicted", type="category")
    plt = _pyplot()
    side = 2.5 + 0.45 * len(labels)
    with plt.style.context("default"):
        figure, ax = plt.subplots()
        ax.imshow(matrix, cmap="Blues")
        ticks = np.arange(len(labels))
        ax.set_xticks(ticks, labels, rotation=45 if max(map(len, labels)) > 3 else 0, ha="right")
        ax.set_yticks(ticks, labels)
        high = matrix.max() if matrix.size else 0
        for i in range(len(labels)):
            for j in range(len(labels)):
                colour = "white" if matrix[i, j] > high / 2 else "black"
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(fig.title)
        fig.png = _save(figure, ctx.out_dir / "confusion_matrix.png", (side + 1, side))

    per_class = preds.per_class()
    table = Figure(
        "per_class",
        "Per-class precision, recall and F1 (test split)",
        "Macro averages in the last row.",
    )
    rows = "".join(
        f"<tr><td>{html.escape(str(r['class']))}</td><td>{r['support']}</td>"
        + "".join(f"<td>{r[k]:.3f}</td>" for k in ("precision", "recall", "f1"))
        + "</tr>"
        for r in per_class
    )
    table.html = (
        "<table><thead><tr><th>class</th><th>support</th><th>precision</th><th>recall</th>"
        f"<th>F1</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    classes = [str(r["class"]) for r in per_class]
    keys = ("precision", "recall", "f1")
    bars = [go.Bar(name=k, x=classes, y=[r[k] for r in per_class]) for k in keys]
    table.plotly = _style(go.Figure(bars), table.title, 420)
    table.plotly.update_layout(barmode="group", yaxis={"range": [0, 1.05]})
    table.plotly.update_xaxes(type="category")
    with plt.style.context("ggplot"):
        figure, ax = plt.subplots()
        x = np.arange(len(classes))
        for i, key in enumerate(("precision", "recall", "f1")):
            ax.bar(x + (i - 1) * 0.27, [r[key] for r in per_class], 0.27, label=key)
        tilt = max(map(len, classes[:-1]), default=0) > 3  # long class names, not "macro avg"
        ax.set_xticks(x, classes, rotation=30 if tilt else 0, ha="right" if tilt else "center")
        ax.set_ylim(0, 1.15)
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_title(table.title)
        ax.legend(loc="upper center", ncol=3, fontsize=9)
        fig_width = max(6.0, 0.55 * len(classes) + 2)
        table.png = _save(figure, ctx.out_dir / "per_class.png", (fig_width, 4))
    return [fig, table]


def predicted_vs_true(ctx: Context) -> list[Figure]:
    """Predicted against true values of the best model on the test split."""
    import plotly.graph_objects as go

    preds = ctx.predictions
    assert preds is not None
    y, p = preds.y_true, preds.y_pred
    scores = preds.regression_scores()
    fig = Figure(
        "predicted_vs_true",
        "Predicted vs true (test split)",
        f"{len(y)} test samples; RMSE {scores['rmse']:.4g}, MAE {scores['mae']:.4g}, "
        f"R² {scores['r2']:.3f}. The diagonal is a perfect prediction.",
    )
    low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    fig.plotly = go.Figure(
        [
            go.Scatter(x=y, y=p, mode="markers", name="test samples", opacity=0.7),
            go.Scatter(
                x=[low, high], y=[low, high], mode="lines", name="y = x", line={"dash": "dash"}
            ),
        ]
    )
    _style(fig.plotly, fig.title, 500)
    fig.plotly.update_xaxes(title="true")
    fig.plotly.update_yaxes(title="predicted", scaleanchor="x")
    plt = _pyplot()
    with plt.style.context("ggplot"):
        figure, ax = plt.subplots()
        ax.scatter(y, p, s=14, alpha=0.7, color=_COMPLETE, label="test samples")
        ax.plot([low, high], [low, high], "--", color="black", linewidth=1, label="y = x")
        ax.set_xlabel("true")
        ax.set_ylabel("predicted")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(fig.title)
        ax.legend(loc="upper left", fontsize=9)
        fig.png = _save(figure, ctx.out_dir / "predicted_vs_true.png", (6, 6))
    return [fig]


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
