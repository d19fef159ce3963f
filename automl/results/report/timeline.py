"""The trial timeline: one bar per trial, from its start to its end, in the lane of the worker
process that ran it, coloured by what it became (the report's state colours).

It shows where the study's time went: idle gaps between trials, workers that sat waiting, a
long trial that held the study up, the reruns of lost trials.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from automl.core.records import record_of
from automl.results.leaderboard.text import trials
from automl.results.report.plotting import (
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

_STATES = (("COMPLETE", COMPLETE), ("PRUNED", PRUNED), ("FAIL", FAILED), ("RUNNING", RUNNING))


def _lane_names(workers: list[str]) -> dict[str, str]:
    """A short name per worker: ``pid 123`` (``host pid 123`` with several hosts)."""
    hosts = {w.split("/", 1)[0] for w in workers if w != "?"}
    out = {}
    for worker in workers:
        parts = worker.rsplit("/", 2)
        if worker == "?" or len(parts) != 3:
            out[worker] = "worker ?" if worker == "?" else worker
        else:
            out[worker] = f"{parts[0]} pid {parts[2]}" if len(hosts) > 1 else f"pid {parts[2]}"
    return out


def timeline(ctx: Context) -> Figure:
    """Each trial as a bar from its start to its end in its worker's lane."""
    fig = Figure(
        "timeline",
        "Trial timeline",
        "One bar per trial from its start to its end, one lane per worker process, coloured "
        "by state (complete, pruned, failed, running).",
    )
    now = dt.datetime.now()
    spans = []
    for trial in ctx.trials:
        start = trial.datetime_start
        if start is None:
            continue
        end = trial.datetime_complete or (now if trial.state.name == "RUNNING" else None)
        if end is None:
            continue
        spans.append((trial, start, end, record_of(trial).worker or "?"))
    if not spans:
        fig.note = "no trial has started yet"
        return fig
    # Lanes in the order their workers first started a trial.
    order = list(dict.fromkeys(w for _, s, _, w in sorted(spans, key=lambda x: x[1])))
    names = _lane_names(order)
    import plotly.graph_objects as go

    plotly_fig = go.Figure()
    for state, colour in _STATES:
        xs: list[Any] = []
        ys: list[Any] = []
        texts: list[Any] = []
        for trial, start, end, worker in spans:
            if trial.state.name != state:
                continue
            label = f"trial #{trial.number} {state.lower()}, {(end - start).total_seconds():.1f} s"
            xs += [start, end, None]
            ys += [names[worker]] * 2 + [None]
            texts += [label, label, None]
        if xs:
            plotly_fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": colour, "width": 14},
                    name=state.lower(),
                    text=texts,
                    hovertemplate="%{text}<extra></extra>",
                )
            )
    height = 160 + 40 * len(order)
    style(plotly_fig, fig.title, height)
    plotly_fig.update_yaxes(
        categoryorder="array", categoryarray=[names[w] for w in order][::-1], title="worker"
    )
    plotly_fig.update_xaxes(title="time")
    fig.plotly = plotly_fig

    plt = pyplot()
    first = min(s for _, s, _, _ in spans)
    with plt.style.context("ggplot"):
        figure, ax = plt.subplots()
        lanes = {w: len(order) - 1 - i for i, w in enumerate(order)}
        seen: set[str] = set()
        for trial, start, end, worker in spans:
            state = trial.state.name
            colour = dict(_STATES).get(state, RUNNING)
            left = (start - first).total_seconds() / 60
            width = max((end - start).total_seconds() / 60, 1e-3)
            ax.broken_barh(
                [(left, width)],
                (lanes[worker] - 0.35, 0.7),
                facecolors=colour,
                edgecolor="white",
                linewidth=0.5,
                label=state.lower() if state not in seen else None,
            )
            seen.add(state)
        ax.set_yticks(list(lanes.values()), [names[w] for w in lanes])
        ax.set_xlabel(f"minutes since the first trial started ({first:%Y-%m-%d %H:%M})")
        ax.set_title(fig.title)
        ax.legend(loc="upper right", fontsize=8)
        fig.png = save_png(figure, ctx.out_dir / "timeline.png", (9, 1.6 + 0.45 * len(order)))
    workers = f"{len(order)} worker" + ("s" if len(order) != 1 else "")
    fig.caption += f" {trials(len(spans))} on {workers}."
    return fig
