"""``draw_report``: a stored study -> ``report/index.html`` and one PNG per figure.

The study comes read (``automl.tuning.report.write_report`` opens the storage and hands a
``StudySnapshot`` and Optuna's plots of it down); ``<run dir>/best/`` is read for the test
split. It imports no training code and no Optuna. The HTML page is one file that opens
offline: plotly.js is embedded once.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from automl.core.atomic import write_text
from automl.core.records import finite_or_none, record_of
from automl.core.study_record import StudySnapshot
from automl.results.leaderboard import rank_rows, row_from_trial
from automl.results.report.figures import Context, Figure, build_figures
from automl.results.report.plotting import StudyPlots
from automl.results.report.predictions import load_predictions

__all__ = ["draw_report", "REPORT_DIR", "best_number"]

REPORT_DIR = "report"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.2rem .7rem;text-align:left;
border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}th{background:#f6f6f6}
.caption{color:#555}.note{color:#8a5a00;background:#fff6e0;padding:.4rem .7rem;
border-left:3px solid #e0a800}.muted{color:#777;font-size:.9em}nav a{margin-right:.8rem}
code{background:#f4f4f4;padding:0 .2rem}
"""


def _fmt(value: object) -> str:
    number = finite_or_none(value) if not isinstance(value, (bool, str)) else None
    if number is not None and not isinstance(value, int):
        return f"{number:.4g}"
    return html.escape(str(value))


def _pairs(mapping: dict[str, Any]) -> str:
    return ", ".join(f"{html.escape(str(k))}={_fmt(v)}" for k, v in mapping.items()) or "-"


def best_number(snapshot: StudySnapshot, names: list[str]) -> int | None:
    """The trial the report calls best: the one the study exported (its number is stored with
    the test metrics), else the leaderboard's rank 1 (``rank_rows``: ties broken as there), so
    the report, the leaderboard and ``best/`` name the same trial; ``None`` with several
    objectives or no complete trial."""
    if len(snapshot.directions) != 1:
        return None
    complete = {t.number: t for t in snapshot.trials if t.state.name == "COMPLETE"}
    exported = snapshot.record.best_trial
    if exported in complete:
        return exported
    ranked = rank_rows(
        [row_from_trial(t) for t in complete.values()], snapshot.directions[0], names[0]
    )
    return next((r.number for r in ranked if r.rank == 1), None)


def _test_metrics(snapshot: StudySnapshot, run_dir: Path | None) -> dict[str, Any]:
    if run_dir is not None and (run_dir / "best" / "metrics.json").is_file():
        try:
            data = json.loads((run_dir / "best" / "metrics.json").read_text())
            if isinstance(data, dict) and isinstance(data.get("test"), dict):
                data = data["test"]  # {"validation": {...}, "test": {...}}
            if isinstance(data, dict):
                return {k: v for k, v in data.items() if str(k).startswith("test_")}
        except (ValueError, OSError):
            pass
    return snapshot.record.test_metrics()


def _summary(
    snapshot: StudySnapshot, names: list[str], run_dir: Path | None, plots: StudyPlots
) -> str:
    record, trials = snapshot.record, snapshot.trials
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    directions = ", ".join(f"{n} ({d})" for n, d in zip(names, snapshot.directions, strict=True))
    asked = record.n_trials
    rows = [
        ("model / data", f"{record.model or '?'} / {record.data or '?'}"),
        ("objective", directions),
        (
            "trials",
            f"{len(trials)}: "
            + ", ".join(f"{k.lower()} {v}" for k, v in sorted(states.items()))
            + (f" (total asked: {asked})" if asked is not None else ""),
        ),
    ]
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    number = best_number(snapshot, names)
    if number is not None:
        best = next(t for t in complete if t.number == number)
        rows += [
            ("best trial", f"#{best.number}: {names[0]} = {_fmt(best.value)}"),
            ("parameters", _pairs(best.params)),
            ("validation", _pairs(record_of(best).metrics)),
            ("test", _pairs(_test_metrics(snapshot, run_dir))),
        ]
    elif complete and len(snapshot.directions) == 1:
        rows.append(("best trial", "no complete trial meets sweep.constraints"))
    elif complete:
        rows.append(("Pareto front", ", ".join(f"#{n}" for n in plots.front())))
    else:
        rows.append(("best trial", "no trial completed yet"))
    if run_dir is not None:
        rows.append(("run directory", str(run_dir)))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    warnings = "".join(
        f'<p class="note warning">warning: {html.escape(line)}</p>'
        for line in report_warnings(snapshot, names)
    )
    return f"<table>{body}</table>{warnings}"


def report_warnings(snapshot: StudySnapshot, names: list[str]) -> list[str]:
    """The summary's trust warnings (``automl.results.trust``), from the stored study."""
    from automl.results.trust import trust_warnings

    rows = [row_from_trial(t) for t in snapshot.trials]
    ranked = rank_rows(rows, snapshot.directions[0], names[0])
    multi = len(snapshot.directions) > 1
    return trust_warnings(ranked, names[0], snapshot.record.n_val, multi=multi)


def _data_section(run_dir: Path | None) -> str:
    """The table the study read, from ``best/data_summary.json`` (written by the export for
    data whose plugin describes it; the name is ``automl.data.summary.SUMMARY_FILE``, which
    the report does not import); empty without one."""
    if run_dir is None:
        return ""
    path = run_dir / "best" / "data_summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
        columns = [c for c in summary["columns"] if isinstance(c, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    head = ("column", "role", "type", "missing", "distinct", "values")
    rows = []
    for c in columns:
        if c.get("type") == "numeric" and "median" in c:
            values = f"{_fmt(c.get('min'))} .. {_fmt(c.get('median'))} .. {_fmt(c.get('max'))}"
        elif isinstance(c.get("top"), list):
            values = ", ".join(
                f"{t.get('value')} ({t.get('rows')})" for t in c["top"] if isinstance(t, dict)
            )
        else:
            values = ""
        cells = (c.get("name"), c.get("role"), c.get("type", ""), c.get("missing", ""),
                 c.get("distinct", ""), values)  # fmt: skip
        rows.append("".join(f"<td>{html.escape(str(v))}</td>" for v in cells))
    splits = summary.get("split_rows") if isinstance(summary.get("split_rows"), dict) else {}
    facts = (
        f"{summary.get('source')}: {summary.get('rows')} rows used of {summary.get('rows_read')}"
        f" read; target {summary.get('target')!s}; missing cells: "
        f"{summary.get('missing_cells')} (data.missing={summary.get('missing')}); "
        f"{summary.get('features')} features after {summary.get('encoding')} encoding; splits "
        + ", ".join(f"{k} {v}" for k, v in splits.items())
    )
    header = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return (
        f'<section id="data"><h2>Data</h2><p>{html.escape(facts)}</p>'
        f"<table><tr>{header}</tr>{body}</table></section>"
    )


def _section(fig: Figure) -> str:
    parts = [f'<section id="{fig.name}"><h2>{html.escape(fig.title)}</h2>']
    if fig.caption and fig.plotly is not None:
        parts.append(f'<p class="caption">{html.escape(fig.caption)}</p>')
    if fig.note:
        parts.append(f'<p class="note">{html.escape(fig.note)}</p>')
    if fig.plotly is not None:
        parts.append(
            fig.plotly.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"fig-{fig.name}",
                config={"displaylogo": False, "responsive": True},
            )
        )
    parts.append(fig.html)
    if fig.png is not None:
        parts.append(f'<p class="muted">PNG: <a href="{fig.png.name}">{fig.png.name}</a></p>')
    parts.append("</section>")
    return "".join(parts)


def _page(title: str, summary: str, figures: list[Figure]) -> str:
    from plotly.offline import get_plotlyjs

    nav = "".join(f'<a href="#{f.name}">{html.escape(f.title)}</a>' for f in figures)
    sections = "".join(_section(f) for f in figures)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        # plotly.js inline: the page opens offline, from a file, with no CDN.
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>{html.escape(title)}</h1>{summary}<nav>{nav}</nav>{sections}"
        '<p class="muted">Written by <code>python -m automl report</code>.</p>'
        "</body></html>\n"
    )


def draw_report(
    snapshot: StudySnapshot,
    plots: StudyPlots,
    run_dir: Path | None,
    out_dir: str | Path | None = None,
) -> Path:
    """Write the report of a study as read.

    Args:
        snapshot: The study (``automl.tuning.stored``).
        plots: Optuna's plots and importances of it (``automl.tuning.report``).
        run_dir: The run directory (for ``best/``: test predictions and metrics; and the
            default output place), or ``None``.
        out_dir: Where to write; default ``<run dir>/report`` (``runs/<study>/report``
            without a run directory).

    Returns:
        The path of ``index.html``.
    """
    name = snapshot.name
    out = Path(out_dir) if out_dir is not None else (run_dir or Path("runs") / name) / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    trials = list(snapshot.trials)
    names = snapshot.objective_names()
    predictions, why = load_predictions(run_dir, names[0])
    best = best_number(snapshot, names)
    ctx = Context(snapshot.directions, trials, names, out, predictions, best, plots)
    figures = build_figures(ctx, why)
    written = {f.png.name for f in figures if f.png is not None}
    for stale in out.glob("*.png"):  # figures an earlier report drew and this one left out
        if stale.name not in written:
            stale.unlink()
    title = f"automl report: {name}"
    index = out / "index.html"
    summary = _summary(snapshot, names, run_dir, plots) + _data_section(run_dir)
    write_text(index, _page(title, summary, figures))
    return index
