"""Tabular encoding: CSV cells (text) to numbers, fitted on the training split, stored as JSON.

The CSV data plugin decides the schema (which columns are numeric, which categorical) from the
whole file; this module fits what depends on the data (medians, most frequent values, the
category lists) on the training rows only, and re-applies that fitted step to any rows later:
the validation and test splits, and raw rows given to
``automl.results.predictor.Predictor.predict``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from automl.core.errors import DataError

__all__ = [
    "NA_VALUES",
    "MISSING_POLICIES",
    "ENCODINGS",
    "parse_number",
    "is_missing",
    "fit_tabular",
    "encode_rows",
]

NA_VALUES = ("", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?")
"""Cells read as missing unless ``data.na_values`` says otherwise."""

MISSING_POLICIES = ("impute", "drop", "error")
ENCODINGS = ("onehot", "ordinal")


def parse_number(cell: object) -> float | None:
    """The cell as a float, or ``None`` when it is not a number (``inf`` is a number here)."""
    if isinstance(cell, (int, float, np.integer, np.floating)) and not isinstance(cell, bool):
        return float(cell)
    try:
        return float(str(cell).strip())
    except ValueError:
        return None


def is_missing(cell: object, na_values: frozenset[str]) -> bool:
    """Whether a raw cell counts as missing: ``None``, a float NaN or one of ``na_values``."""
    if cell is None:
        return True
    if isinstance(cell, (float, np.floating)):
        return math.isnan(cell)
    return str(cell).strip() in na_values


def _most_frequent(values: Iterable[str]) -> str | None:
    counts = Counter(values)
    if not counts:
        return None
    top = max(counts.values())
    return min(v for v, c in counts.items() if c == top)  # ties: the first in sorted order


def fit_tabular(
    x: np.ndarray,
    columns: Sequence[tuple[str, str]],
    *,
    encoding: str = "onehot",
    missing: str = "impute",
    na_values: Sequence[str] = NA_VALUES,
) -> dict[str, Any]:
    """Fit the encoding of raw training rows.

    Args:
        x: Raw training cells, shape ``(n_rows, n_columns)`` (strings, or numbers).
        columns: ``(name, "numeric" | "categorical")`` per column, in the order of ``x``.
        encoding: ``onehot`` (one 0/1 feature per training category) or ``ordinal``
            (categories numbered in sorted order).
        missing: The missing-value policy (``impute``/``drop``/``error``); stored so
            prediction treats missing cells the same way.
        na_values: Cells that mean "missing".

    Returns:
        A JSON-serializable ``{"kind": "tabular", ...}`` step for ``encode_rows``.
    """
    na = frozenset(na_values)
    fitted: list[dict[str, Any]] = []
    names: list[str] = []
    for j, (name, kind) in enumerate(columns):
        cells = [c for c in x[:, j] if not is_missing(c, na)] if len(x) else []
        if kind == "numeric":
            nums = [v for v in (parse_number(c) for c in cells) if v is not None]
            finite = [v for v in nums if math.isfinite(v)]
            # A column empty in the training rows gets 0.0: standardization keeps it constant.
            fill = float(np.median(finite)) if finite else 0.0
            fitted.append({"name": name, "type": "numeric", "fill": fill})
            names.append(name)
        else:
            values = [str(c).strip() for c in cells]
            categories = sorted(set(values))
            fitted.append(
                {
                    "name": name,
                    "type": "categorical",
                    "categories": categories,
                    "fill": _most_frequent(values),
                }
            )
            names += [f"{name}={c}" for c in categories] if encoding == "onehot" else [name]
    return {
        "kind": "tabular",
        "columns": fitted,
        "encoding": encoding,
        "missing": missing,
        "na_values": list(na_values),
        "feature_names": names,
    }


def _rows(x: Any, names: list[str]) -> list[Sequence[Any]]:
    """Rows as sequences in the training column order (mappings are looked up by name)."""
    if isinstance(x, np.ndarray):
        if x.ndim == 1 and len(names) == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2:
            raise DataError(f"tabular inputs must be rows of {len(names)} cells, got {x.shape}")
        rows: list[Sequence[Any]] = list(x)
    elif isinstance(x, Mapping):
        rows = [[x.get(n) for n in names]]
    else:
        rows = [[r.get(n) for n in names] if isinstance(r, Mapping) else r for r in x]
    for i, row in enumerate(rows):
        if len(row) != len(names):
            raise DataError(
                f"row {i} has {len(row)} cells but the model was trained on {len(names)} columns "
                f"({', '.join(names)}); pass rows in that order or as {{column: value}} mappings"
            )
    return rows


def encode_rows(x: object, step: dict[str, Any]) -> np.ndarray:
    """Encode raw rows with a fitted ``tabular`` step.

    Args:
        x: A 2-D array of cells, a list of rows (sequences in the training column order) or
            a list of ``{column: value}`` mappings (extra keys such as the target are ignored;
            an absent column counts as missing).
        step: What ``fit_tabular`` returned.

    Returns:
        Float32 features ``(n_rows, len(step["feature_names"]))``.

    Raises:
        DataError: A missing cell under the ``error`` policy, or text in a numeric column.
    """
    columns = step["columns"]
    names = [c["name"] for c in columns]
    rows = _rows(x, names)
    na = frozenset(step["na_values"])
    onehot = step["encoding"] == "onehot"
    strict = step["missing"] == "error"
    out = np.zeros((len(rows), len(step["feature_names"])), dtype=np.float32)
    pos = 0
    for j, col in enumerate(columns):
        name = col["name"]
        if col["type"] == "numeric":
            for i, row in enumerate(rows):
                cell = row[j]
                value = None if is_missing(cell, na) else parse_number(cell)
                if value is None and not is_missing(cell, na):
                    raise DataError(
                        f"column '{name}' holds numbers but row {i} has {str(cell)!r}; "
                        f"fix the value or list it in data.na_values"
                    )
                if value is None or not math.isfinite(value):
                    if strict:
                        raise DataError(
                            f"column '{name}' is missing or not finite in row {i} and the "
                            "model was trained with data.missing=error; fill the value"
                        )
                    value = col["fill"]
                out[i, pos] = value
            pos += 1
            continue
        index = {c: k for k, c in enumerate(col["categories"])}
        fill = col["fill"]
        for i, row in enumerate(rows):
            cell = row[j]
            if is_missing(cell, na):
                if strict:
                    raise DataError(
                        f"column '{name}' is missing in row {i} and the model was trained "
                        "with data.missing=error; fill the value"
                    )
                cell = fill
            k = index.get(str(cell).strip()) if cell is not None else None
            if onehot:
                if k is not None:  # a category never seen in training rows stays all zeros
                    out[i, pos + k] = 1.0
            else:
                # Unseen categories take the most frequent training category's code.
                if k is None:
                    k = index.get(fill, -1) if fill is not None else -1
                out[i, pos] = k
        pos += len(col["categories"]) if onehot else 1
    return out
