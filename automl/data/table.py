"""``data=csv``: a table with a header row; one column is the target, the others features.

Read with the standard library's ``csv`` module (no pandas). Numeric columns stay numbers;
text columns are categories, one-hot (default) or ordinal encoded. Which columns are numeric is
decided from the whole file (it is the schema); everything learnt from values (medians, most
frequent values, category lists) is fitted on the training split only, by
``automl.data.encode.fit_tabular``, and saved with the preprocessing so prediction re-applies it.
"""

from __future__ import annotations

import csv
import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from automl.core.errors import DataError
from automl.core.plugin import DataPlugin
from automl.data.encode import (
    ENCODINGS,
    MISSING_POLICIES,
    NA_VALUES,
    fit_tabular,
    is_missing,
    parse_number,
)
from automl.data.files import check_choice, encode_target, resolve_path
from automl.data.types import DataConfig, RawData

__all__ = ["CsvConfig", "CSV", "load_csv", "read_rows", "MAX_COLUMNS", "MAX_LINE_CHARS"]

NUMERIC_SHARE = 0.9
"""A column whose values are at least this share numbers is numeric with a few bad cells."""

IDENTIFIER_MIN_ROWS = 20
"""A column is taken for an identifier (and left out) only in a table of at least this many
rows: in a handful of rows, any column may hold distinct values."""
MAX_COLUMNS = 10_000
"""``data.max_columns``'s default: the most columns a table may have (the header is checked
before any row is read). Every cell is held as text until the schema is decided, so a table
this wide with a few thousand rows already takes gigabytes."""

MAX_LINE_CHARS = 4 * 2**20
"""``data.max_line_chars``'s default: the longest line (in characters) read from a CSV file.
Lines are read at most this much at a time, so a file that is one huge line is refused after
reading 4 Mi characters, not after holding the whole line in memory."""


@dataclass
class CsvConfig(DataConfig):
    """A CSV table (header row first).

    Attributes:
        path: The CSV file.
        target: The column to predict.
        task: ``auto`` (text or few distinct integer values: classification, else
            regression), ``classification`` or ``regression``.
        missing: What to do with missing feature cells (empty or one of ``na_values``; an
            infinite number counts as missing): ``impute`` fills the median (numeric) or
            most frequent value (text) of the training split; ``drop`` removes the rows;
            ``error`` stops with the column and line. Rows without a target are dropped
            (``impute``/``drop``) or an error (``error``).
        encoding: Text columns as ``onehot`` (one 0/1 feature per category) or ``ordinal``
            (one feature: the category's index in sorted order).
        drop: Columns to ignore (identifiers, free text, leaks of the target).
        keep: Columns to use as features even though every value in them is different
            (by default such an integer or text column is an identifier and is left out).
        na_values: Cells that mean "missing".
        max_categories: A text column with more distinct values than this cannot be
            encoded as categories and stops with an error naming it.
        delimiter: Field separator, one character.
        test_path: Optional CSV with the same columns used as the test split.
        max_columns: The most columns the file may have; a wider header is refused before
            any row is read (raise it for a table that really is this wide).
        max_line_chars: The longest line the file may have, in characters; a longer one is
            refused after reading this many, never held whole (raise it for very wide rows).
    """

    path: str = ""
    target: str = ""
    task: str = "auto"
    missing: str = "impute"
    encoding: str = "onehot"
    drop: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    na_values: list[str] = field(default_factory=lambda: list(NA_VALUES))
    max_categories: int = 50
    delimiter: str = ","
    test_path: str = ""
    max_columns: int = MAX_COLUMNS
    max_line_chars: int = MAX_LINE_CHARS


def bounded_lines(f: IO[str], where: str, limit: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of a text file, each read at most ``limit + 1`` characters at a time.

    Raises:
        DataError: A line longer than ``limit`` characters (nothing more of it is read).
    """
    number = 0
    while True:
        line = f.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            raise DataError(
                f"{where} line {number} is longer than {limit} characters "
                f"(data.max_line_chars={limit}); check data.delimiter and the line breaks, or "
                "raise data.max_line_chars if the rows really are this long"
            )
        yield line


def _wide_header(where: str, head: str, delimiter: str, max_columns: int) -> None:
    """A header line too long to read whole: name its width when that is the reason."""
    if head.count(delimiter) + 1 > max_columns:
        raise DataError(
            f"{where} has more than {max_columns} columns (its header alone is longer than "
            f"{len(head) - 1} characters), more than data.max_columns={max_columns}; drop "
            "columns, or raise data.max_columns (and data.max_line_chars) if the table really "
            "is this wide"
        )


def _read(
    path: Path,
    delimiter: str,
    max_columns: int = MAX_COLUMNS,
    max_line_chars: int = MAX_LINE_CHARS,
) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows (stripped cells) and each row's line number; blank lines are skipped.

    The header's width is checked before any row is read, and no line is read whole past
    ``max_line_chars`` characters.
    """
    where = str(path)
    if path.is_dir():
        raise DataError(f"{where} is a folder; data=csv needs a .csv file")
    rows: list[list[str]] = []
    lines: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            source = bounded_lines(f, where, max_line_chars)
            try:
                reader = csv.reader(source, delimiter=delimiter)
                header = next(reader, None)
            except DataError:
                f.seek(0)
                _wide_header(where, f.read(max_line_chars + 1), delimiter, max_columns)
                raise
            if header is None or not any(h.strip() for h in header):
                raise DataError(f"{where} is empty; it needs a header row and data rows")
            if len(header) > max_columns:
                raise DataError(
                    f"{where} has {len(header)} columns, more than data.max_columns="
                    f"{max_columns}; drop columns, or raise data.max_columns if the table "
                    "really is this wide"
                )
            header = [h.strip() or f"column_{j + 1}" for j, h in enumerate(header)]
            for row in reader:
                if not any(c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{where} line {reader.line_num} has {len(row)} fields but the header "
                        f"has {len(header)}; fix the row (or set data.delimiter)"
                    )
                rows.append([c.strip() for c in row])
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise DataError(f"{where} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except csv.Error as exc:
        raise DataError(
            f"{where} is not valid CSV ({exc}); check quotes and data.delimiter"
        ) from None
    # One pass with a counter: a header of 10^6 columns is checked in well under a second.
    dupes = sorted(name for name, n in Counter(header).items() if n > 1)
    if dupes:
        raise DataError(f"{where} has duplicate column name(s) {_some(dupes)}; rename them")
    return header, rows, lines


def _some(names: list[str], limit: int = 20) -> str:
    """``a, b, c`` -- or the first ``limit`` names and how many there are, for wide tables."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])}, ... ({len(names)} in all)"


def _missing_target(cells: list[str], na: frozenset[str]) -> list[int]:
    return [i for i, c in enumerate(cells) if is_missing(c, na)]


def _cell_missing(cell: str, numeric: bool, na: frozenset[str]) -> bool:
    if is_missing(cell, na):
        return True
    if numeric:
        value = parse_number(cell)
        return value is None or not np.isfinite(value)
    return False


def _schema(
    cfg: CsvConfig, names: list[str], x: np.ndarray, lines: list[int], where: str
) -> list[tuple[str, str]]:
    """``(name, numeric|categorical)`` per feature column; rejects columns that cannot be used."""
    na = frozenset(cfg.na_values)
    schema = []
    for j, name in enumerate(names):
        present = [(i, c) for i, c in enumerate(x[:, j]) if not is_missing(c, na)]
        if not present:
            raise DataError(f"{where}: column '{name}' has no values; add data.drop=[{name}]")
        text = [(i, c) for i, c in present if parse_number(c) is None]
        if not text:
            schema.append((name, "numeric"))
            continue
        if len(text) < len(present) and 1 - len(text) / len(present) >= NUMERIC_SHARE:
            i, c = text[0]
            raise DataError(
                f"{where}: column '{name}' holds numbers but line {lines[i]} has {c!r} "
                f"({len(text)} such cell(s)); fix them, add the value to data.na_values, or "
                f"add data.drop=[{name}]"
            )
        distinct = sorted({c for _, c in present})
        if len(distinct) > cfg.max_categories:
            examples = ", ".join(repr(v) for v in distinct[:3])
            raise DataError(
                f"{where}: text column '{name}' has {len(distinct)} distinct values ({examples}, "
                f"...), more than data.max_categories={cfg.max_categories}, so it cannot be "
                f"encoded as categories; add data.drop=[{name}] or raise data.max_categories"
            )
        schema.append((name, "categorical"))
    return schema


def _apply_missing(
    cfg: CsvConfig,
    schema: list[tuple[str, str]],
    x: np.ndarray,
    lines: list[int],
    where: str,
) -> np.ndarray:
    """Rows of ``x`` to keep under ``data.missing``; raises for ``error``."""
    na = frozenset(cfg.na_values)
    keep = np.ones(len(x), dtype=bool)
    if cfg.missing == "impute":
        return keep
    for j, (name, kind) in enumerate(schema):
        numeric = kind == "numeric"
        for i, cell in enumerate(x[:, j]):
            if keep[i] and _cell_missing(cell, numeric, na):
                if cfg.missing == "error":
                    raise DataError(
                        f"{where}: column '{name}' is missing or not finite at line {lines[i]} "
                        f"({cell!r}) and data.missing=error; fill it, or use data.missing=impute "
                        "(training-split median / most frequent) or data.missing=drop"
                    )
                keep[i] = False
    return keep


def _table(
    cfg: CsvConfig, path: Path, features: list[str] | None
) -> tuple[list[str], np.ndarray, np.ndarray, list[int]]:
    """Feature names, raw feature cells, target cells and line numbers of one CSV file."""
    where = str(path)
    header, rows, lines = _read(path, cfg.delimiter, cfg.max_columns, cfg.max_line_chars)
    position = {name: j for j, name in enumerate(header)}  # names are unique (checked by _read)
    drop = set(cfg.drop)
    if cfg.target not in position:
        hint = ""
        if len(header) == 1 and any(d in header[0] for d in ";\t|"):
            hint = " (one column only: is the delimiter different? set data.delimiter)"
        what = "data.target is not set" if not cfg.target else f"no column '{cfg.target}'"
        raise DataError(
            f"{where}: {what}; columns are {_some(header)}{hint}: set data.target to one of them"
        )
    unknown = [d for d in cfg.drop if d not in position]
    if unknown:
        raise DataError(
            f"{where}: data.drop names {', '.join(unknown)}, not columns of the file "
            f"({_some(header)})"
        )
    if cfg.target in cfg.drop:
        raise DataError(f"data.drop lists the target column '{cfg.target}'; remove it")
    if not rows:
        raise DataError(f"{where} has a header but no data rows")
    if features is None:
        features = [h for h in header if h != cfg.target and h not in drop]
        if not features:
            raise DataError(f"{where}: no feature columns left besides the target")
    missing_cols = [f for f in features if f not in position]
    if missing_cols:
        raise DataError(f"{where} lacks column(s) {_some(missing_cols)} that the training file has")
    cells = np.empty((len(rows), len(header)), dtype=object)
    cells[:] = rows
    cols = [position[f] for f in features]
    return features, cells[:, cols], cells[:, position[cfg.target]], lines


def _clean(
    cfg: CsvConfig,
    schema: list[tuple[str, str]],
    x: np.ndarray,
    y: np.ndarray,
    lines: list[int],
    where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the target and feature missing-value policy; return kept rows."""
    na = frozenset(cfg.na_values)
    no_target = _missing_target(list(y), na)
    if no_target and cfg.missing == "error":
        raise DataError(
            f"{where}: target '{cfg.target}' is missing at line {lines[no_target[0]]} and "
            "data.missing=error; fill it or use data.missing=drop"
        )
    keep = np.ones(len(y), dtype=bool)
    keep[no_target] = False
    keep &= _apply_missing(cfg, schema, x, lines, where)
    if not keep.any():
        raise DataError(
            f"{where}: no rows left after data.missing={cfg.missing} removed rows with "
            "missing values; use data.missing=impute"
        )
    return x[keep], y[keep]


_ID_NAME = re.compile(r"(^|[^a-z])(id|key|uuid|guid|index)$|^(id|key|uuid|guid)([^a-z]|$)")


def _identifiers(cfg: CsvConfig, names: list[str], x: np.ndarray) -> list[str]:
    """Feature columns that look like row identifiers, not in ``data.keep``: every cell
    present and different, and either text, or integers that also number the rows (in
    increasing order, or packed within ten times the row count, e.g. 1001, 1002, 1004, ...)
    or sit in a column named like one (``id``, ``customer_id``, ``key``). Distinct decimals
    and scattered integers (incomes, say) are ordinary measurements."""
    if len(x) < IDENTIFIER_MIN_ROWS:
        return []
    na = frozenset(cfg.na_values)
    found = []
    for j, name in enumerate(names):
        if name in cfg.keep:
            continue
        cells = list(x[:, j])
        if any(is_missing(c, na) for c in cells) or len(set(cells)) < len(cells):
            continue
        numbers = [parse_number(c) for c in cells]
        if all(v is None for v in numbers):
            found.append(name)
            continue
        if not all(v is not None and v.is_integer() for v in numbers):
            continue
        values = np.asarray(numbers, dtype=np.float64)
        ordered = bool(np.all(np.diff(values) > 0))
        packed = values.max() - values.min() + 1 <= 10 * len(values)
        if ordered or packed or _ID_NAME.search(name.lower()):
            found.append(name)
    return found


def _describe(
    cfg: CsvConfig,
    header_roles: dict[str, str],
    schema: list[tuple[str, str]],
    x: np.ndarray,
    where: str,
    rows_read: int,
    rows_kept: int,
    rows_without_target: int,
) -> dict[str, Any]:
    """``RawData.summary`` of a table: rows, each column's type, role and missing cells."""
    na = frozenset(cfg.na_values)
    columns: list[dict[str, Any]] = []
    missing_total = 0
    for j, (name, kind) in enumerate(schema):
        cells = x[:, j]
        missing = sum(_cell_missing(c, kind == "numeric", na) for c in cells)
        missing_total += missing
        present = [c for c in cells if not _cell_missing(c, kind == "numeric", na)]
        column: dict[str, Any] = {
            "name": name,
            "role": "feature",
            "type": "numeric" if kind == "numeric" else "text",
            "missing": int(missing),
            "distinct": len(set(present)),
        }
        if kind == "numeric" and present:
            values = np.asarray([float(c) for c in present])
            column.update(
                min=float(values.min()), median=float(np.median(values)), max=float(values.max())
            )
        elif present:
            counts = Counter(str(c) for c in present).most_common(5)
            column["top"] = [{"value": v, "rows": n} for v, n in counts]
        columns.append(column)
    for name, role in header_roles.items():
        columns.append({"name": name, "role": role})
    return {
        "source": Path(where).name,
        "rows": rows_kept,
        "rows_read": rows_read,
        "rows_without_target": rows_without_target,
        "rows_dropped_missing": rows_read - rows_without_target - rows_kept
        if cfg.missing == "drop"
        else 0,
        "missing": cfg.missing,
        "missing_cells": int(missing_total) if cfg.missing == "impute" else 0,
        "encoding": cfg.encoding,
        "target": cfg.target,
        "columns": columns,
    }


def load_csv(cfg: CsvConfig) -> RawData:
    """Read the table, decide the schema, apply the missing-value policy.

    Returns:
        ``RawData`` whose ``x`` holds raw cells and whose ``encoder`` fits the encoding on
        the training split (``make_dataset`` calls it after splitting).

    Raises:
        DataError: Missing file or target column, unusable columns, missing values under
            ``data.missing=error``, or target problems; every message names the file.
    """
    check_choice("missing", cfg.missing, MISSING_POLICIES)
    check_choice("encoding", cfg.encoding, ENCODINGS)
    if len(cfg.delimiter) != 1:
        raise DataError(f"data.delimiter={cfg.delimiter!r} must be one character")
    for name, low in (("max_columns", 2), ("max_line_chars", 2)):
        if getattr(cfg, name) < low:
            raise DataError(f"data.{name}={getattr(cfg, name)} must be >= {low}")
    path = resolve_path(cfg.path, "my.csv")
    where = str(path)
    features, x, y, lines = _table(cfg, path, None)
    unknown = [k for k in cfg.keep if k not in features]
    if unknown:
        raise DataError(
            f"{where}: data.keep names {', '.join(unknown)}, not feature columns of the file "
            f"({_some(features)})"
        )
    roles = {name: "dropped" for name in cfg.drop}
    notes = []
    for name in _identifiers(cfg, features, x):
        j = features.index(name)
        x = np.delete(x, j, axis=1)
        features.pop(j)
        roles[name] = "identifier"
        notes.append(
            f"{path.name}: column '{name}' is left out: its {len(x)} values are all different, "
            f"as an identifier's are, so it cannot inform a prediction; data.keep=[{name}] "
            "keeps it as a feature"
        )
    if not features:
        ids = [n for n, role in roles.items() if role == "identifier"]
        dropped = " and the data.drop columns" if cfg.drop else ""
        raise DataError(
            f"{where}: no feature columns left besides the target{dropped} and the "
            f"identifier(s) {', '.join(ids)}; name one in data.keep=[...] to use it"
        )
    schema = _schema(cfg, features, x, lines, where)
    rows_read = len(x)
    without_target = len(_missing_target(list(y), frozenset(cfg.na_values)))
    x, y = _clean(cfg, schema, x, y, lines, where)
    summary = _describe(cfg, roles, schema, x, where, rows_read, len(x), without_target)
    x_test = y_test = None
    if cfg.test_path:
        test_path = resolve_path(cfg.test_path, "my_test.csv")
        _, x_test, y_test, test_lines = _table(cfg, test_path, features)
        x_test, y_test = _clean(cfg, schema, x_test, y_test, test_lines, str(test_path))
    task, y_codes, y_test_codes, class_names = encode_target(y, y_test, cfg.task, where)
    encoder = functools.partial(
        fit_tabular,
        columns=schema,
        encoding=cfg.encoding,
        missing=cfg.missing,
        na_values=tuple(cfg.na_values),
    )
    return RawData(
        x=x,
        y=y_codes,
        task=task,
        feature_names=tuple(features),
        class_names=class_names,
        x_test=x_test,
        y_test=y_test_codes,
        source=where if not cfg.test_path else f"{where}, test {cfg.test_path}",
        encoder=encoder,
        summary=summary,
        notes=tuple(notes),
    )


def read_rows(path: str | Path, delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of a CSV file as ``{column: cell}`` mappings, ready for ``Predictor.predict``.

    Extra columns (such as the target) are ignored by the stored encoder; absent ones count
    as missing.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        return [
            {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            for row in csv.DictReader(bounded_lines(f, str(path)), delimiter=delimiter)
        ]


CSV = DataPlugin(
    name="csv",
    config=CsvConfig,
    load="automl.data.table:load_csv",
    description="Your table: CSV with a target column; numeric + categorical features",
)
