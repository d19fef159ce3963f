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

The checks themselves are ``automl.results.input_validation.validate_inputs``. Only numpy is
imported here: the
export writes the schema and ``--help`` never loads it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from automl.core.errors import ExportError

if TYPE_CHECKING:
    from automl.core.plugin import DataSpec

__all__ = ["Column", "InputSchema", "SCHEMA_FILE", "SCHEMA_FORMAT", "MAX_SAMPLE_ELEMENTS"]

SCHEMA_FILE = "schema.json"
SCHEMA_FORMAT = 1
MAX_SAMPLE_ELEMENTS = 2**24
"""No exported per-sample shape may hold more values than this (a 4096 x 4096 RGB image)."""

Form = Literal["array", "table", "image"]


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

    @property
    def feature_positions(self) -> Mapping[str, int]:
        """Feature name -> its position in a rank-1 sample (computed once per schema)."""
        return self._positions

    # ------------------------------------------------------------------ building
    @classmethod
    def build(
        cls,
        spec: DataSpec,
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
        missing: str = "impute"
        na_values: tuple[str, ...] = ()
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
    def from_json(cls, data: object, where: str = SCHEMA_FILE) -> InputSchema:
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
            **(
                {
                    "pixel_range": [0, 255],
                    "images": "PNG/JPEG bytes (multipart, a raw image/* body or "
                    '{"b64": ...}) and H x W x C pixels of any size are resized as in '
                    "training",
                }
                if self.form == "image"
                else {}
            ),
        }


def _dims(value: Any) -> tuple[int, ...]:
    dims = tuple(int(d) for d in value)
    if not dims or any(d < 1 for d in dims) or math.prod(dims) > MAX_SAMPLE_ELEMENTS:
        raise ValueError(f"shape {list(value)} must be positive with at most 2**24 values")
    return dims
