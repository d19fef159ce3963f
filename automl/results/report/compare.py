"""``python -m automl compare RUN_A RUN_B [...] [--out DIR]``: did my change help?

One offline HTML page (plotly.js inside it, as the report's) and a PNG per figure that put
several stored studies side by side:

- their optimization histories overlaid (each complete trial's value by trial number, and the
  best so far), and their best-so-far curves against the time each study spent running trials;
- a table of each study's best value, trials by state, time, pace and best parameters (and the
  exported model's test metrics, when ``best/`` has them);
- the config differences between the runs (every setting of ``.hydra/config.yaml`` that is not
  the same in all of them).

Read-only, like ``report``: ``python -m automl compare`` (``automl.cli.compare``) opens each
target through ``automl.tuning.stored`` and hands this module the studies as read
(``compared_of``); this module draws. It imports no Optuna.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from automl.core.study_record import StudySnapshot

__all__ = ["write_comparison", "Compared", "compared_of", "config_differences"]

# One colour per study, in the order named (matplotlib's and plotly's first colours).
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


@dataclass
class Compared:
    """One study as the comparison reads it.

    Attributes:
        label: How the page names it (``A: cnn-digits``).
        name: The study's name.
        where: Its storage, as the user may read it.
        run_dir: Its run directory, when known.
        metric: The objective's name (``val_acc``).
        direction: ``maximize`` or ``minimize``.
        trials: Its trials (Optuna's frozen trials).
        config: The run's saved config (``.hydra/config.yaml``), or ``{}``.
        test: The exported model's test metrics (``best/metrics.json``), or ``{}``.
    """

    label: str
    name: str
    where: str
    run_dir: Path | None
    metric: str
    direction: str
    trials: list[Any]
    config: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> list[Any]:
        """Complete trials with a value, by number."""
        return [t for t in self.trials if t.state.name == "COMPLETE" and t.values]

    def best_so_far(self) -> list[float]:
        """The best value after each complete trial."""
        out: list[float] = []
        for t in self.complete:
            value = float(t.values[0])
            if not out:
                out.append(value)
            else:
                better = value > out[-1] if self.direction == "maximize" else value < out[-1]
                out.append(value if better else out[-1])
        return out


def _flatten(node: object, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): node}


def config_differences(configs: Sequence[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Every setting whose value is not the same in all ``configs`` (a missing one is
    ``None``), sorted by name; Hydra's own settings are left out."""
    flat = [_flatten({k: v for k, v in c.items() if k != "hydra"}) for c in configs]
    keys = sorted({k for f in flat for k in f})
    out = []
    for key in keys:
        values = [f.get(key) for f in flat]
        if any(json.dumps(v, sort_keys=True, default=str) != json.dumps(values[0], sort_keys=True,
               default=str) for v in values[1:]):  # fmt: skip
            out.append((key, values))
    return out


def _test_metrics(run_dir: Path | None) -> dict[str, Any]:
    path = run_dir / "best" / "metrics.json" if run_dir is not None else None
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (ValueError, OSError):
        return {}
    test = data.get("test") if isinstance(data, dict) else None
    return test if isinstance(test, dict) else {}


def compared_of(snapshot: StudySnapshot, config: dict[str, Any], letter: str) -> Compared:
    """One study as the comparison reads it.

    Args:
        snapshot: The study as read (``automl.tuning.stored``).
        config: Its run's saved config (``.hydra/config.yaml``), or ``{}``.
        letter: How the page tells it apart (``A``).
    """
    return Compared(
        label=f"{letter}: {snapshot.name}",
        name=snapshot.name,
        where=snapshot.where,
        run_dir=snapshot.run_dir,
        metric=snapshot.objective_names()[0],
        direction=snapshot.directions[0],
        trials=list(snapshot.trials),
        config=config,
        test=_test_metrics(snapshot.run_dir),
    )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "-"
    return str(value)


def _rows_of(study: Compared) -> list[Any]:
    from automl.results.leaderboard import rank_rows, row_from_trial

    return rank_rows([row_from_trial(t) for t in study.trials], study.direction, study.metric)


def _table(studies: Sequence[Compared]) -> str:
    from automl.results.leaderboard.pace import pace
    from automl.results.leaderboard.text import fmt_seconds

    heads = "".join(f"<th>{html.escape(s.label)}</th>" for s in studies)
    lines: list[tuple[str, list[str]]] = []
    bests, params = [], []
    for s in studies:
        ranked = _rows_of(s)
        best = next((r for r in ranked if r.rank == 1), None)
        bests.append(
            f"{s.metric} = {best.value:.4g} (#{best.number})"
            if best is not None and best.value is not None
            else "no complete trial"
        )
        params.append(
            "<br>".join(f"{html.escape(k)}={html.escape(_fmt(v))}" for k, v in best.params.items())
            if best is not None
            else "-"
        )
    lines.append(("best value", [html.escape(b) for b in bests]))
    counts, times = [], []
    for s in studies:
        rows = _rows_of(s)
        states: dict[str, int] = {}
        for r in rows:
            states[r.state] = states.get(r.state, 0) + 1
        counts.append(
            f"{len(rows)}: " + ", ".join(f"{k.lower()} {v}" for k, v in sorted(states.items()))
        )
        now = pace(rows, None)
        times.append(f"{fmt_seconds(now.elapsed)} running trials, {now.rate_text()}")
    lines.append(("trials", counts))
    lines.append(("time", times))
    lines.append(("best parameters", params))
    tests = [", ".join(f"{k}={_fmt(v)}" for k, v in s.test.items()) or "-" for s in studies]
    lines.append(("test (best/)", [html.escape(t) for t in tests]))
    lines.append(("objective", [html.escape(f"{s.metric} ({s.direction})") for s in studies]))
    lines.append(("storage", [html.escape(s.where) for s in studies]))
    body = "".join(
        f"<tr><th>{html.escape(k)}</th>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>"
        for k, values in lines
    )
    return f'<table id="side-by-side"><tr><th></th>{heads}</tr>{body}</table>'


def _differences(studies: Sequence[Compared]) -> str:
    if not any(s.config for s in studies):
        return '<p class="note">no run directory with a saved config (.hydra/config.yaml)</p>'
    diffs = config_differences([s.config for s in studies])
    if not diffs:
        return "<p>The runs' configs are the same.</p>"
    heads = "".join(f"<th>{html.escape(s.label)}</th>" for s in studies)
    body = "".join(
        f"<tr><th><code>{html.escape(key)}</code></th>"
        + "".join(f"<td>{html.escape(json.dumps(v, default=str))}</td>" for v in values)
        + "</tr>"
        for key, values in diffs
    )
    return f'<table id="config-differences"><tr><th>setting</th>{heads}</tr>{body}</table>'


def _elapsed_curve(study: Compared) -> tuple[list[float], list[float]]:
    """Best so far against minutes of the study's trial time (at each complete trial's end)."""
    from automl.results.leaderboard.pace import busy_seconds

    spans = [
        (t.datetime_start.timestamp(), t.datetime_complete.timestamp())
        for t in study.trials
        if t.datetime_start is not None and t.datetime_complete is not None
    ]
    xs = []
    for t in study.complete:
        end = t.datetime_complete.timestamp()
        xs.append(busy_seconds([(s, min(e, end)) for s, e in spans if s < end]) / 60)
    return xs, study.best_so_far()


def _figures(studies: Sequence[Compared], out: Path) -> list[tuple[str, str, Any, Path]]:
    import plotly.graph_objects as go

    from automl.results.report.plotting import pyplot, save_png, style

    metric = studies[0].metric
    history = go.Figure()
    curves = go.Figure()
    for i, s in enumerate(studies):
        colour = COLOURS[i % len(COLOURS)]
        numbers = [t.number for t in s.complete]
        values = [float(t.values[0]) for t in s.complete]
        history.add_trace(
            go.Scatter(
                x=numbers, y=values, mode="markers", marker={"color": colour, "size": 7},
                name=f"{s.label} trials", opacity=0.6,
            )
        )  # fmt: skip
        history.add_trace(
            go.Scatter(
                x=numbers, y=s.best_so_far(), mode="lines", line={"color": colour, "width": 3},
                name=f"{s.label} best so far", line_shape="hv",
            )
        )  # fmt: skip
        xs, best = _elapsed_curve(s)
        curves.add_trace(
            go.Scatter(
                x=xs, y=best, mode="lines+markers", line={"color": colour, "width": 3},
                name=s.label, line_shape="hv",
            )
        )  # fmt: skip
    style(history, "Optimization histories")
    history.update_xaxes(title="trial number")
    history.update_yaxes(title=metric)
    style(curves, "Best so far against time")
    curves.update_xaxes(title="minutes running trials")
    curves.update_yaxes(title=f"best {metric}")

    plt = pyplot()
    with plt.style.context("ggplot"):
        figure, ax = plt.subplots()
        for i, s in enumerate(studies):
            colour = COLOURS[i % len(COLOURS)]
            numbers = [t.number for t in s.complete]
            ax.scatter(numbers, [float(t.values[0]) for t in s.complete], color=colour, s=14,
                       alpha=0.5)  # fmt: skip
            ax.step(numbers, s.best_so_far(), where="post", color=colour, linewidth=2.2,
                    label=s.label)  # fmt: skip
        ax.set_xlabel("trial number")
        ax.set_ylabel(metric)
        ax.set_title("Optimization histories (dots: trials; lines: best so far)")
        ax.legend(fontsize=9)
        history_png = save_png(figure, out / "compare_history.png", (8, 4.5))
        figure, ax = plt.subplots()
        for i, s in enumerate(studies):
            xs, best = _elapsed_curve(s)
            ax.step(xs, best, where="post", color=COLOURS[i % len(COLOURS)], linewidth=2.2,
                    label=s.label, marker="o", markersize=3)  # fmt: skip
        ax.set_xlabel("minutes running trials")
        ax.set_ylabel(f"best {metric}")
        ax.set_title("Best so far against time")
        ax.legend(fontsize=9)
        curves_png = save_png(figure, out / "compare_best_so_far.png", (8, 4.5))
    return [
        (
            "history",
            f"Each study's complete trials ({metric} by trial number) and its best so far.",
            history,
            history_png,
        ),
        (
            "best_so_far",
            "The best value so far against the time each study spent running trials.",
            curves,
            curves_png,
        ),
    ]


def write_comparison(studies: Sequence[Compared], out_dir: str | Path) -> Path:
    """Write ``index.html`` and the PNGs comparing ``studies`` into ``out_dir``; its path."""
    from plotly.offline import get_plotlyjs

    from automl.core.atomic import write_text
    from automl.results.report.build import _CSS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    if len({(s.metric, s.direction) for s in studies}) > 1:
        notes.append(
            "the studies optimize different objectives ("
            + ", ".join(f"{s.label}: {s.metric} ({s.direction})" for s in studies)
            + "); the figures draw each study's own"
        )
    sections = []
    for name, caption, plotly_fig, png in _figures(studies, out):
        sections.append(
            f'<section id="{name}"><h2>{html.escape(plotly_fig.layout.title.text)}</h2>'
            f'<p class="caption">{html.escape(caption)}</p>'
            + plotly_fig.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"fig-{name}",
                config={"displaylogo": False, "responsive": True},
            )
            + f'<p class="muted">PNG: <a href="{png.name}">{png.name}</a></p></section>'
        )
    title = "automl compare: " + " vs ".join(s.name for s in studies)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>{html.escape(title)}</h1>"
        + "".join(f'<p class="note">{html.escape(n)}</p>' for n in notes)
        + f"<h2>Side by side</h2>{_table(studies)}"
        + "".join(sections)
        + f'<section id="config"><h2>Config differences</h2>{_differences(studies)}</section>'
        + '<p class="muted">Written by <code>python -m automl compare</code>.</p></body></html>\n'
    )
    index = out / "index.html"
    write_text(index, page)
    return index
