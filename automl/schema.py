"""The input schema exported with a model (``best/schema.json``) and validation against it.

A served or batch-predicted model gets inputs from people and programs that never saw the
training data; every input is checked here before preprocessing touches it, so a wrong shape,
a missing column, text in a numeric field, an unknown category or NaN where training had none
is one ``InputError`` naming the field and what was expected, never a numpy or torch error.

Three forms of input, decided by the data's preprocessing:

- ``array``: numbers of a fixed per-sample shape (built-in data, npz files). Tabular rows
  (rank 1 with feature names) may also be ``{feature: value}`` mappings.
- ``table``: CSV rows, as sequences in the training column order or ``{column: value}``
  mappings; numeric columns take numbers, categorical columns one of the training levels.
- ``image``: pixels in the stored ``C x H x W`` shape, or (where allowed) image file paths.

Only numpy is imported here: the export writes the schema and ``--help`` never loads it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from automl.errors import ExportError, InputError

__all__ = ["Column", "InputSchema", "SCHEMA_FILE", "SCHEMA_FORMAT", "MAX_SAMPLE_ELEMENTS"]

SCHEMA_FILE = "schema.json"
SCHEMA_FORMAT = 1
MAX_SAMPLE_ELEMENTS = 2**24
"""No exported per-sample shape may hold more values than this (a 4096 x 4096 RGB image)."""

Form = Literal["array", "table", "image"]
_SHOWN = 12  # at most this many names or levels are listed in a message


def _listing(items: Sequence[Any]) -> str:
    shown = ", ".join(str(i) for i in items[:_SHOWN])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _SHOWN else "")


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass(frozen=True)
class Column:
    """One column of a CSV table as the model was trained on it.

    Attributes:
        name: Column name in the CSV header.
        type: ``numeric`` or ``categorical``.
        categories: The training levels of a categorical column.
    """

    name: str
    type: Literal["numeric", "categorical"]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class InputSchema:
    """What one prediction input must look like.

    Attributes:
        form: ``array``, ``table`` or ``image`` (see the module docstring).
        task: ``classification``, ``regression`` or ``generation``.
        shape: Per-sample shape the model sees after preprocessing.
        accepted: Per-sample shapes of raw inputs, first the canonical one (the stored shape
            for image folders and npz layouts, else ``shape``); ``shape`` itself passes
            through; every other one is reshaped (row-major) into the canonical one, e.g.
            ``(8, 8)`` and ``(64,)`` for ``(1, 8, 8)``.
        feature_names: Names of the features of rank-1 array inputs (``None`` if unnamed).
        nan_allowed: Per feature (rank-1 arrays) or one value for all: whether the training
            inputs held NaN (then NaN is passed on to the model; otherwise it is refused).
        columns: The CSV columns (``table`` form).
        missing: The CSV missing-value policy the model was trained with (``table`` form):
            ``impute`` fills an empty cell as training did, ``error`` refuses it.
        na_values: Cells that mean "missing" in a CSV row.
        classes: Class labels by class id (classification).
        n_targets: Regression targets per sample.
    """

    form: Form
    task: str
    shape: tuple[int, ...]
    accepted: tuple[tuple[int, ...], ...]
    feature_names: tuple[str, ...] | None = None
    nan_allowed: tuple[bool, ...] = (False,)
    columns: tuple[Column, ...] = ()
    missing: str = "impute"
    na_values: tuple[str, ...] = ()
    classes: tuple[str, ...] | None = None
    n_targets: int = 1
    _positions: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = self.feature_names or ()
        object.__setattr__(self, "_positions", {n: i for i, n in enumerate(names)})

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        spec: Any,
        preprocessing: Mapping[str, Any],
        nan_allowed: Sequence[bool] | bool = False,
    ) -> InputSchema:
        """The schema for data described by ``spec`` and its fitted ``preprocessing``.

        Args:
            spec: The ``DataSpec`` (or an object with the same attributes).
            preprocessing: ``Dataset.preprocessing`` / ``best/preprocessing.json``.
            nan_allowed: Whether training inputs held NaN, per feature or for all.
        """
        steps = list(preprocessing.get("steps", [preprocessing] if preprocessing else []))
        shape = tuple(int(d) for d in spec.input_shape)
        canonical: tuple[int, ...] = shape
        form: Form = "array"
        columns: tuple[Column, ...] = ()
        missing, na_values = "impute", ()
        for step in steps:
            kind = step.get("kind")
            if kind == "tabular":
                form = "table"
                columns = tuple(
                    Column(
                        str(c["name"]),
                        "numeric" if c["type"] == "numeric" else "categorical",
                        tuple(str(v) for v in c.get("categories") or ()),
                    )
                    for c in step["columns"]
                )
                missing = str(step.get("missing", "impute"))
                na_values = tuple(str(v) for v in step.get("na_values", ()))
            elif kind == "image":
                form = "image"
                canonical = (int(step["channels"]), int(step["size"]), int(step["size"]))
            elif kind == "layout":
                canonical = tuple(int(d) for d in step["stored"])
        accepted = [canonical]
        if form != "table" and canonical != shape:
            accepted.append(shape)  # already in the model's layout: passed through as is
        if form != "table" and canonical == shape:
            # The same values in a more familiar shape: (8, 8) or (64,) for (1, 8, 8).
            squeezed = tuple(d for d in shape if d != 1) or (1,)
            flat = (int(np.prod(shape)),)
            for alias in (squeezed, flat):
                if alias not in accepted:
                    accepted.append(alias)
        if isinstance(nan_allowed, bool) or len(shape) != 1 or form == "table":
            flags: tuple[bool, ...] = (bool(np.any(nan_allowed)),)
        else:
            flags = tuple(bool(v) for v in nan_allowed)
        names = spec.feature_names if form == "array" and len(shape) == 1 else None
        classes = preprocessing.get("classes")
        if classes is None and spec.task == "classification" and spec.n_classes:
            classes = [str(i) for i in range(int(spec.n_classes))]
        return cls(
            form=form,
            task=str(spec.task),
            shape=shape,
            accepted=tuple(accepted),
            feature_names=tuple(str(n) for n in names) if names else None,
            nan_allowed=flags,
            columns=columns,
            missing=missing,
            na_values=na_values,
            classes=tuple(str(c) for c in classes) if classes is not None else None,
            n_targets=int(getattr(spec, "n_targets", 1) or 1),
        )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for ``best/schema.json``."""
        return {
            "format": SCHEMA_FORMAT,
            "form": self.form,
            "task": self.task,
            "shape": list(self.shape),
            "accepted": [list(s) for s in self.accepted],
            "feature_names": list(self.feature_names) if self.feature_names else None,
            "nan_allowed": list(self.nan_allowed),
            "columns": [
                {"name": c.name, "type": c.type, "categories": list(c.categories)}
                for c in self.columns
            ],
            "missing": self.missing,
            "na_values": list(self.na_values),
            "classes": list(self.classes) if self.classes is not None else None,
            "n_targets": self.n_targets,
        }

    @classmethod
    def from_json(cls, data: Any, where: str = SCHEMA_FILE) -> InputSchema:
        """Read and check a schema written by ``to_json`` (an untrusted file).

        Raises:
            ExportError: One line naming the first field that is missing or wrong.
        """

        def bad(what: str) -> ExportError:
            return ExportError(f"{where}: {what}; re-export the model (rerun its study)")

        if not isinstance(data, dict) or data.get("format") != SCHEMA_FORMAT:
            raise bad(f"not an automl input schema of format {SCHEMA_FORMAT}")
        try:
            form = data["form"]
            shape = _dims(data["shape"])
            accepted = tuple(_dims(s) for s in data["accepted"])
            names = data.get("feature_names")
            nan = tuple(bool(v) for v in data.get("nan_allowed") or [False])
            columns = tuple(
                Column(str(c["name"]), c["type"], tuple(str(v) for v in c["categories"]))
                for c in data.get("columns") or []
            )
            classes = data.get("classes")
            schema = cls(
                form=form,
                task=str(data["task"]),
                shape=shape,
                accepted=accepted,
                feature_names=tuple(str(n) for n in names) if names else None,
                nan_allowed=nan,
                columns=columns,
                missing=str(data.get("missing", "impute")),
                na_values=tuple(str(v) for v in data.get("na_values") or []),
                classes=tuple(str(c) for c in classes) if classes is not None else None,
                n_targets=int(data.get("n_targets", 1)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise bad(f"malformed ({type(exc).__name__}: {exc})") from None
        if form not in ("array", "table", "image"):
            raise bad(f"form {form!r} is not array, table or image")
        if not accepted or any(int(np.prod(s)) != int(np.prod(accepted[0])) for s in accepted):
            raise bad("accepted shapes must be non-empty and hold the same number of values")
        if form != "table" and int(np.prod(accepted[0])) != int(np.prod(shape)):
            raise bad(f"stored shape {accepted[0]} and model shape {shape} differ in size")
        if schema.feature_names and len(schema.feature_names) != shape[0]:
            raise bad(f"{len(schema.feature_names)} feature names for {shape[0]} features")
        if len(nan) not in (1, shape[0]):
            raise bad(f"{len(nan)} NaN flags for {shape[0]} features")
        if any(c.type not in ("numeric", "categorical") for c in columns):
            raise bad("a column type is not numeric or categorical")
        if form == "table" and not columns:
            raise bad("a table schema without columns")
        if schema.missing not in ("impute", "drop", "error"):
            raise bad(f"missing policy {schema.missing!r} is not impute, drop or error")
        return schema

    # ------------------------------------------------------------------ describing
    def input_names(self) -> list[str]:
        """What a client names: CSV columns, features of a rank-1 array, or ``input``."""
        if self.form == "table":
            return [c.name for c in self.columns]
        return list(self.feature_names) if self.feature_names else ["input"]

    def describe(self) -> dict[str, Any]:
        """Inputs for metadata: names, datatypes and per-sample shapes (``-1`` = batch)."""
        if self.form == "table":
            return {
                "inputs": [
                    {
                        "name": c.name,
                        "datatype": "FP64" if c.type == "numeric" else "BYTES",
                        "shape": [-1],
                        **({"categories": list(c.categories)} if c.categories else {}),
                    }
                    for c in self.columns
                ],
                "accepted_shapes": [[-1, len(self.columns)]],
            }
        return {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [-1, *self.accepted[0]],
                    **({"feature_names": list(self.feature_names)} if self.feature_names else {}),
                }
            ],
            "accepted_shapes": [[-1, *s] for s in self.accepted],
        }

    # ------------------------------------------------------------------ validating
    def validate(self, x: Any, where: str = "instances", allow_paths: bool = False) -> Any:
        """Check raw inputs and return them in the form the stored preprocessing takes.

        Args:
            x: A batch: an array, or a sequence of samples (nested lists of numbers, CSV
                rows, ``{name: value}`` mappings, or image file paths where allowed).
            where: How the batch is named in messages (``instances``, ``inputs[0]``, a file).
            allow_paths: Accept image file paths (the command line and Python, not HTTP,
                where a path would read files on the server).

        Returns:
            A float array of the canonical per-sample shape, CSV rows, or the paths.

        Raises:
            InputError: Naming the first offending field and what was expected.
        """
        if isinstance(x, np.ndarray) and x.ndim == 0 or isinstance(x, (str, bytes, Mapping)):
            raise InputError(
                f"{where} must be a list of samples, got a single {type(x).__name__}", where
            )
        if not isinstance(x, np.ndarray) and not isinstance(x, Sequence):
            raise InputError(f"{where} must be a list of samples, got {type(x).__name__}", where)
        if len(x) == 0:
            raise InputError(f"{where} is empty; send at least one sample", where)
        if self.form == "table":
            return self._validate_rows(x, where)
        first = x[0]
        if self.form == "image" and isinstance(first, str):
            if not allow_paths:
                raise InputError(
                    f"{where}[0] is a string; send pixels as nested lists of numbers of "
                    f"shape {_shape_text(self.accepted[0])}",
                    f"{where}[0]",
                )
            bad = [i for i, p in enumerate(x) if not isinstance(p, str)]
            if bad:
                raise InputError(f"{where}[{bad[0]}] is not an image file path", where)
            return list(x)
        if self.feature_names and not isinstance(x, np.ndarray):
            if any(isinstance(s, Mapping) for s in x):
                x = self._mappings_to_rows(x, where)
        arr = self._numbers(x, where)
        return self._shaped(arr, where)

    def _mappings_to_rows(self, x: Sequence[Any], where: str) -> list[list[Any]]:
        names = self.feature_names or ()
        rows = []
        for i, sample in enumerate(x):
            if not isinstance(sample, Mapping):
                rows.append(sample)
                continue
            absent = [n for n in names if n not in sample]
            if absent:
                raise InputError(
                    f"{where}[{i}] lacks feature(s) {_listing(absent)}; every sample needs all "
                    f"{len(names)} features of the training data (their names: GET /metadata)",
                    f"{where}[{i}].{absent[0]}",
                )
            unknown = [k for k in sample if k not in self._positions]
            if unknown:
                raise InputError(
                    f"{where}[{i}] has unknown feature(s) {_listing(unknown)}; the features "
                    f"are {_listing(names)}",
                    f"{where}[{i}].{unknown[0]}",
                )
            rows.append([sample[n] for n in names])
        return rows

    def _field(self, where: str, index: tuple[int, ...]) -> str:
        return where + "".join(f"[{i}]" for i in index)

    def _shown(self, where: str, index: tuple[int, ...]) -> str:
        """The field with its feature's name, for messages: ``instances[0][3] ('area')``."""
        text = self._field(where, index)
        if self.feature_names and len(index) == 2:
            text += f" ('{self.feature_names[index[1]]}')"
        return text

    def _numbers(self, x: Any, where: str) -> np.ndarray:
        """``x`` as float64, or an ``InputError`` naming the first value that is no number."""
        try:
            arr = np.asarray(x)
        except ValueError:
            arr = np.asarray(None)  # ragged nesting: located below
        if arr.dtype.kind in "iuf" and arr.ndim >= 1:
            return arr.astype(np.float64, copy=False)
        self._locate(x, where, ())
        raise InputError(
            f"{where} must hold numbers only, as nested lists of per-sample shape "
            f"{_shape_text(self.accepted[0])}",
            where,
        )

    def _locate(self, x: Any, where: str, index: tuple[int, ...]) -> None:
        """Raise for the first value in nested ``x`` that is not a number (or ragged)."""
        if isinstance(x, (bool, np.bool_)) or isinstance(x, (str, bytes)) or x is None:
            shown = "null" if x is None else repr(x)
            raise InputError(
                f"{self._shown(where, index)} is {shown}; expected a number",
                self._field(where, index),
            )
        if isinstance(x, (int, float, np.integer, np.floating)):
            return
        if isinstance(x, np.ndarray) and x.dtype.kind in "iuf":
            return
        if isinstance(x, Mapping):
            raise InputError(
                f"{self._shown(where, index)} is an object; expected a number or a list",
                self._field(where, index),
            )
        if not isinstance(x, (Sequence, np.ndarray)):
            raise InputError(
                f"{self._shown(where, index)} is a {type(x).__name__}; expected a number",
                self._field(where, index),
            )
        lengths = set()
        for i, v in enumerate(x):
            self._locate(v, where, (*index, i))
            if isinstance(v, (Sequence, np.ndarray)) and not isinstance(v, (str, bytes)):
                lengths.add(len(v))
            else:
                lengths.add(-1)
        if len(lengths) > 1:
            raise InputError(
                f"{self._shown(where, index)} holds lists of different lengths; every sample "
                f"must have shape {_shape_text(self.accepted[0])}",
                self._field(where, index),
            )

    def _shaped(self, arr: np.ndarray, where: str) -> np.ndarray:
        sample = tuple(arr.shape[1:])
        if sample not in self.accepted:
            also = [s for s in self.accepted[1:]]
            hint = f" (also accepted: {', '.join(_shape_text(s) for s in also)})" if also else ""
            if tuple(arr.shape) in self.accepted:
                hint += "; a single sample must still be wrapped in a list"
            raise InputError(
                f"{where} has per-sample shape {_shape_text(sample)}; expected "
                f"{_shape_text(self.accepted[0])}{hint}",
                where,
            )
        # The model's own shape passes through (a layout step may transpose the stored one);
        # every other accepted shape holds the canonical one's values in row-major order.
        target = sample if sample == self.shape else self.accepted[0]
        arr = arr.reshape(len(arr), *target)
        finite = np.isfinite(arr)
        if not finite.all():
            flat_ok = finite.reshape(len(arr), -1)
            nan = np.isnan(arr).reshape(len(arr), -1)
            allowed = np.asarray(self.nan_allowed, dtype=bool)
            if allowed.size == 1:
                allowed = np.broadcast_to(allowed, (flat_ok.shape[1],))
            bad = ~flat_ok & ~(nan & allowed)
            if bad.any():
                i, j = (int(v) for v in np.argwhere(bad)[0])
                index = (i, *np.unravel_index(j, target))
                value = arr.reshape(len(arr), -1)[i, j]
                why = (
                    "the training data had no missing values there"
                    if np.isnan(value)
                    else "expected a finite number"
                )
                at = tuple(int(v) for v in index)
                raise InputError(
                    f"{self._shown(where, at)} is {value}; {why}", self._field(where, at)
                )
        return arr

    def _validate_rows(self, x: Any, where: str) -> list[list[Any]]:
        columns = self.columns
        names = [c.name for c in columns]
        na = frozenset(self.na_values)
        rows: list[list[Any]] = []
        for i, row in enumerate(x):
            if isinstance(row, Mapping):
                absent = [n for n in names if n not in row]
                if absent:
                    raise InputError(
                        f"{where}[{i}] lacks column(s) {_listing(absent)}; every row needs all "
                        f"{len(names)} training columns ({_listing(names)})",
                        f"{where}[{i}].{absent[0]}",
                    )
                cells = [row[n] for n in names]
            elif isinstance(row, (Sequence, np.ndarray)) and not isinstance(row, (str, bytes)):
                cells = list(row)
                if len(cells) != len(names):
                    raise InputError(
                        f"{where}[{i}] has {len(cells)} cells; expected {len(names)} in the "
                        f"training column order ({_listing(names)}) or a {{column: value}} object",
                        f"{where}[{i}]",
                    )
            else:
                raise InputError(
                    f"{where}[{i}] is a {type(row).__name__}; expected a row of {len(names)} "
                    f"cells or a {{column: value}} object",
                    f"{where}[{i}]",
                )
            for col, cell in zip(columns, cells, strict=True):
                self._check_cell(col, cell, na, f"{where}[{i}].{col.name}")
            rows.append(cells)
        return rows

    def _check_cell(self, col: Column, cell: Any, na: frozenset[str], name: str) -> None:
        missing = (
            cell is None
            or (isinstance(cell, float) and math.isnan(cell))
            or (isinstance(cell, str) and cell.strip() in na)
        )
        if missing:
            if self.missing != "impute":
                raise InputError(
                    f"{name} is missing; the model was trained with data.missing="
                    f"{self.missing}, so every cell needs a value",
                    name,
                )
            return
        if isinstance(cell, (list, dict, tuple, bool)):
            raise InputError(f"{name} is {cell!r}; expected a single value", name)
        if col.type == "numeric":
            if isinstance(cell, (int, float, np.integer, np.floating)):
                value = float(cell)
            else:
                try:
                    value = float(str(cell).strip())
                except ValueError:
                    raise InputError(f"{name} is {cell!r}; expected a number", name) from None
            if math.isinf(value):
                raise InputError(f"{name} is {value}; expected a finite number", name)
            return
        if str(cell).strip() not in col.categories:
            raise InputError(
                f"{name} is {str(cell)!r}, not a level seen in training; expected one of "
                f"{_listing(col.categories)}",
                name,
            )


def _dims(value: Any) -> tuple[int, ...]:
    dims = tuple(int(d) for d in value)
    if not dims or any(d < 1 for d in dims) or math.prod(dims) > MAX_SAMPLE_ELEMENTS:
        raise ValueError(f"shape {list(value)} must be positive with at most 2**24 values")
    return dims
