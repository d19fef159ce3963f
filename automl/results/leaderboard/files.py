"""``leaderboard.csv`` and ``leaderboard.json``: every trial's row, written atomically."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from automl.core.atomic import write_text
from automl.core.objectives import BUILTINS
from automl.core.records import finite_or_none
from automl.core.study_record import StudyHeader
from automl.results.leaderboard.rows import Row, json_safe


def write_leaderboard(rows: list[Row], directory: str | Path, header: StudyHeader) -> None:
    """Write ``leaderboard.csv`` and ``leaderboard.json`` into ``directory``, each atomically.

    The JSON is strict (no ``NaN``/``Infinity``: non-finite values are written as ``null``).
    """
    import io

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    param_names = sorted({k for r in rows for k in r.params})
    metric_names = sorted({k for r in rows for k in r.metrics})
    objectives = header.objective_list()
    multi = len(objectives) > 1
    families = any(r.family for r in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    # With several objectives the rank is the Pareto front, and `pareto` marks front 1.
    extra = (["family"] if families else []) + (["pareto"] if multi else [])
    writer.writerow(
        ["rank", "number", "state", "value", "epochs", "duration_s", "note", *extra]
        + ["feasible", *BUILTINS]
        + metric_names
        + [f"param_{p}" for p in param_names]
    )
    for r in rows:
        value = finite_or_none(r.value)
        cells: list[Any] = [r.family or ""] if families else []
        if multi:
            cells.append("yes" if r.rank == 1 else "")
        writer.writerow(
            [
                r.rank or "",
                r.number,
                r.state,
                "" if value is None else value,
                "" if r.epochs is None else r.epochs,
                "" if r.duration is None else round(r.duration, 3),
                r.note,
                *cells,
                ("yes" if r.feasible else "no") if r.state in ("COMPLETE", "STOPPED") else "",
            ]
            + [_csv_cell(r.measures.get(m)) for m in BUILTINS]
            + [_csv_cell(r.metrics.get(m)) for m in metric_names]
            + [_csv_cell(r.params.get(p)) for p in param_names]
        )
    write_text(path / "leaderboard.csv", buffer.getvalue())
    payload = {**json_safe(header.as_dict()), "trials": [r.as_dict() for r in rows]}
    write_text(path / "leaderboard.json", json.dumps(payload, indent=2, allow_nan=False))


def _csv_cell(value: object) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        number = finite_or_none(value)
        return "" if number is None else number
    return value
