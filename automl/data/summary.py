"""What a table held and what was done to it: the study's one line and ``best/data_summary.json``.

A data plugin describes its source in ``RawData.summary`` (the CSV plugin: rows, each column's
type, missing cells and how they were filled, columns left out); ``attach_summary`` adds what
only the split data knows (the number of features the encoding made, the split sizes) and
``summary_line`` says it in one line::

    data: loans.csv: 500 rows, 6 columns: 4 numeric, 2 text -> 10 features;
        103 missing cells imputed (median / most frequent)

(one line when printed).
"""

from __future__ import annotations

import math
from typing import Any

from automl.data.types import Dataset, RawData

__all__ = ["SUMMARY_FILE", "attach_summary", "summary_line"]

SUMMARY_FILE = "data_summary.json"


def attach_summary(dataset: Dataset, raw: RawData) -> None:
    """Give ``dataset`` (its folds and the data a refit trains on too) the source's summary."""
    summary = None
    if raw.summary is not None:
        summary = {
            **raw.summary,
            "features": int(math.prod(dataset.spec.input_shape)),
            "split_rows": {
                "train": len(dataset.train),
                "validation": len(dataset.val),
                "test": len(dataset.test),
            },
        }
        if dataset.folds:
            summary["split_rows"]["folds"] = len(dataset.folds)
    notes = tuple(raw.notes)
    for part in [dataset, *dataset.folds]:
        part.summary, part.notes = summary, notes
    merged = dataset.merged
    if merged is not None:

        def merged_with_summary() -> Dataset:
            out = merged()
            out.summary, out.notes = summary, notes
            return out

        dataset.merged = merged_with_summary


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(summary: dict[str, Any]) -> str:
    """The one line a study prints about its table."""
    columns = summary.get("columns", [])
    used = [c for c in columns if c.get("role") == "feature"]
    numeric = sum(c["type"] == "numeric" for c in used)
    text = len(used) - numeric
    parts = [
        f"{summary.get('source', 'data')}: {_plural(int(summary['rows']), 'row')}, "
        f"{_plural(len(used), 'column')}: {numeric} numeric, {text} text -> "
        f"{_plural(int(summary['features']), 'feature')}"
    ]
    missing = int(summary.get("missing_cells", 0))
    policy = summary.get("missing")
    if policy == "impute" and missing:
        parts.append(f"{_plural(missing, 'missing cell')} imputed (median / most frequent)")
    elif policy == "drop" and summary.get("rows_dropped_missing"):
        parts.append(
            f"{_plural(int(summary['rows_dropped_missing']), 'row')} with missing cells dropped"
        )
    elif not missing:
        parts.append("no missing cells")
    if summary.get("rows_without_target"):
        dropped = int(summary["rows_without_target"])
        parts.append(f"{_plural(dropped, 'row')} without a target dropped")
    left_out = [c["name"] for c in columns if c.get("role") in ("identifier", "dropped")]
    if left_out:
        parts.append("left out: " + ", ".join(left_out[:8]) + (" ..." if len(left_out) > 8 else ""))
    return "data: " + "; ".join(parts)
