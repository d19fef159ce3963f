"""Reading a model export (``best/``) as untrusted input: find it, read it, check every field.

A ``best/`` folder may have been copied, edited or planted, so nothing in it is believed
before it is checked: sizes are capped before anything is allocated, statistics must be
finite and of the length the data spec implies, YAML is read as plain data (an
``${oc.env:...}`` interpolation is refused, never resolved), and file names stay inside the
folder. Every failure is one ``ExportError`` line saying which file and field are wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from automl.core.errors import ExportError
from automl.core.plugin import LAYOUT_RANKS, SAMPLE_LAYOUTS, TASKS, DataSpec
from automl.results.schema import MAX_SAMPLE_ELEMENTS

__all__ = [
    "CONFIG_FILE",
    "PREPROCESSING_FILE",
    "METRICS_FILE",
    "find_export",
    "read_config",
    "read_json",
    "check_spec",
    "check_preprocessing",
]

CONFIG_FILE = "config.yaml"
PREPROCESSING_FILE = "preprocessing.json"
METRICS_FILE = "metrics.json"
MAX_CONFIG_BYTES = 1 * 2**20
MAX_JSON_BYTES = 64 * 2**20
MAX_NODES = 200_000
MAX_DEPTH = 64
"""How deeply an exported config may nest (a model config nests a few levels)."""
MAX_CLASSES = 1_000_000
MAX_CATEGORIES = 100_000


def _is_export(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() and (path / PREPROCESSING_FILE).is_file()


def find_export(path: str | Path) -> Path:
    """The export folder for ``path``: a ``best/`` folder itself, or a run folder holding one.

    A run folder of ``sweep=none`` holds ``single/``, which is used when it has the same
    layout and there is no ``best/``.

    Raises:
        ExportError: When ``path`` is neither (one line, with what to pass instead).
    """
    folder = Path(path)
    if not folder.exists():
        raise ExportError(f"{folder} does not exist; pass a run folder (runs/<study>) or its best/")
    if folder.is_dir():
        if _is_export(folder):
            return folder
        for child in ("best", "single"):
            if _is_export(folder / child):
                return folder / child
    raise ExportError(
        f"{folder} is not a model export: it has no {CONFIG_FILE} and {PREPROCESSING_FILE}, "
        "nor a best/ folder with them; pass a run folder after its study has finished "
        "(runs/<study>) or its best/ folder"
    )


def _read_text(path: Path, limit: int) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ExportError(f"cannot read {path} ({exc.strerror}); re-export the model") from None
    if size > limit:
        raise ExportError(
            f"{path} is {size} bytes, more than the {limit} an export file may have; "
            "it is not an automl export (re-export the model)"
        )
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportError(f"cannot read {path} ({exc}); re-export the model") from None


def _count_nodes(value: object, where: str, budget: list[int], depth: int = 0) -> None:
    """Walk plain YAML/JSON data, refusing interpolations, oversized (aliased) trees and
    nesting deeper than ``MAX_DEPTH``."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ExportError(f"{where} holds more than {MAX_NODES} values; re-export the model")
    if depth > MAX_DEPTH:
        raise ExportError(f"{where} nests deeper than {MAX_DEPTH} levels; re-export the model")
    if isinstance(value, Mapping):
        for k, v in value.items():
            _count_nodes(v, f"{where}.{k}", budget, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _count_nodes(v, f"{where}[{i}]", budget, depth + 1)
    elif isinstance(value, str) and "${" in value:
        raise ExportError(
            f"{where} is {value!r}, an interpolation; an exported config must hold plain "
            "values and automl does not resolve it (re-export the model)"
        )


def read_config(folder: Path) -> dict[str, Any]:
    """``config.yaml`` as plain data (YAML safe loader: no tags, no interpolation resolved).

    Raises:
        ExportError: Unreadable, too large, not a mapping, or a used field holding an
            interpolation.
    """
    import yaml

    path = folder / CONFIG_FILE
    try:
        data = yaml.safe_load(_read_text(path, MAX_CONFIG_BYTES))
    except yaml.YAMLError as exc:
        line = str(exc).splitlines()[0]
        raise ExportError(f"{path} is not valid YAML ({line}); re-export the model") from None
    except RecursionError:
        raise ExportError(
            f"{path} nests its YAML too deeply to read; re-export the model"
        ) from None
    if not isinstance(data, dict):
        raise ExportError(f"{path} is not a mapping; re-export the model")
    for key in ("model_name", "spec", "model"):
        if key not in data:
            raise ExportError(f"{path} lacks '{key}'; it is not an automl export")
    budget = [MAX_NODES]
    for key in ("model_name", "model_file", "spec", "model"):
        _count_nodes(data.get(key), f"{path.name}: {key}", budget)
    if not isinstance(data["model_name"], str) or not isinstance(data["model"], dict):
        raise ExportError(f"{path}: model_name must be a name and model a mapping")
    return data


def read_json(path: Path, required: bool = True) -> Any:
    """A JSON file of an export (size-capped; ``None`` if absent and not required).

    Raises:
        ExportError: Missing (when required), too large or not JSON.
    """
    if not path.exists() and not required:
        return None
    text = _read_text(path, MAX_JSON_BYTES)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ExportError(f"{path} is not valid JSON ({exc}); re-export the model") from None
    except RecursionError:
        raise ExportError(
            f"{path} nests its JSON too deeply to parse; it is not an automl export (re-export "
            "the model)"
        ) from None


def _int(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer in [{low}, {high}], got {value!r}")
    return value


def check_spec(fields: object, where: str = f"{CONFIG_FILE}: spec") -> DataSpec:
    """The ``DataSpec`` recorded in ``config.yaml``, with every field checked.

    Raises:
        ExportError: A field of the wrong type or out of range (named).
    """
    try:
        if not isinstance(fields, Mapping):
            raise ValueError("must be a mapping")
        shape = fields["input_shape"]
        if not isinstance(shape, list) or not 1 <= len(shape) <= 4:
            raise ValueError("input_shape must be a list of 1 to 4 sizes")
        dims = tuple(_int(d, 1, MAX_SAMPLE_ELEMENTS, "input_shape sizes") for d in shape)
        if math.prod(dims) > MAX_SAMPLE_ELEMENTS:
            raise ValueError(f"input_shape {list(dims)} holds more than 2**24 values per sample")
        task = fields["task"]
        if task not in TASKS:
            raise ValueError(f"task {task!r} is not one of {', '.join(TASKS)}")
        n_classes = fields.get("n_classes")
        if task == "classification":
            n_classes = _int(n_classes, 2, MAX_CLASSES, "n_classes")
        elif n_classes is not None:
            n_classes = _int(n_classes, 1, MAX_CLASSES, "n_classes")
        n_targets = _int(fields.get("n_targets", 1), 1, 10_000, "n_targets")
        names = fields.get("feature_names")
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError("feature_names must be a list of names")
            if len(dims) != 1 or len(names) != dims[0]:
                raise ValueError(f"{len(names)} feature_names for input_shape {list(dims)}")
        layout = fields.get("layout")
        if layout is not None and (
            layout not in SAMPLE_LAYOUTS or LAYOUT_RANKS[layout] != len(dims)
        ):
            raise ValueError(f"layout {layout!r} does not fit input_shape {list(dims)}")
        return DataSpec(
            name=str(fields.get("name", "")),
            task=task,
            input_shape=dims,
            n_classes=n_classes,
            n_targets=n_targets,
            feature_names=tuple(names) if names else None,
            layout=layout,
        )
    except (KeyError, TypeError, ValueError) as exc:
        what = f"lacks {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ExportError(f"{where}: {what}; re-export the model") from None


def _finite_list(value: object, what: str, positive: bool = False) -> list[float]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{what} must be a non-empty list of numbers")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{what} holds {v!r}; every value must be a finite number")
        if positive and v <= 0:
            raise ValueError(f"{what} holds {v!r}; every value must be > 0")
        out.append(float(v))
    return out


def _check_tabular(step: Mapping[str, Any], spec: DataSpec) -> None:
    columns = step["columns"]
    if not isinstance(columns, list) or not columns or len(columns) > MAX_CATEGORIES:
        raise ValueError("tabular columns must be a non-empty list")
    encoding = step["encoding"]
    if encoding not in ("onehot", "ordinal"):
        raise ValueError(f"tabular encoding {encoding!r} is not onehot or ordinal")
    if step["missing"] not in ("impute", "drop", "error"):
        raise ValueError(f"tabular missing policy {step['missing']!r} is not impute/drop/error")
    na = step["na_values"]
    if not isinstance(na, list) or not all(isinstance(v, str) for v in na):
        raise ValueError("tabular na_values must be a list of strings")
    width = 0
    for c in columns:
        if not isinstance(c, Mapping) or not isinstance(c.get("name"), str):
            raise ValueError("each tabular column needs a name")
        if c.get("type") == "numeric":
            _finite_list([c.get("fill")], f"column {c['name']!r} fill")
            width += 1
        elif c.get("type") == "categorical":
            cats = c.get("categories")
            if not isinstance(cats, list) or not all(isinstance(v, str) for v in cats):
                raise ValueError(f"column {c['name']!r}: categories must be a list of strings")
            if len(cats) > MAX_CATEGORIES:
                raise ValueError(f"column {c['name']!r} has more than {MAX_CATEGORIES} levels")
            if c.get("fill") is not None and not isinstance(c.get("fill"), str):
                raise ValueError(f"column {c['name']!r}: fill must be a level or null")
            width += len(cats) if encoding == "onehot" else 1
        else:
            raise ValueError(f"column {c.get('name')!r}: type must be numeric or categorical")
    names = step["feature_names"]
    if not isinstance(names, list) or len(names) != width:
        raise ValueError(f"tabular feature_names must list the {width} encoded features")
    if spec.input_shape != (width,):
        raise ValueError(
            f"tabular encoding gives {width} features; input_shape says {spec.input_shape}"
        )


def check_preprocessing(stats: object, spec: DataSpec, where: str = PREPROCESSING_FILE) -> dict:
    """Check ``preprocessing.json`` against the data spec; return it unchanged if sound.

    Raises:
        ExportError: An unknown step, non-finite or non-positive statistics, lengths that do
            not match the spec, or implausible sizes (one line naming the field).
    """
    try:
        if not isinstance(stats, dict):
            raise ValueError("must be a JSON object")
        if not stats:
            return stats
        steps = stats["steps"] if "steps" in stats else [stats]
        if not isinstance(steps, list) or len(steps) > 16:
            raise ValueError("steps must be a list of at most 16 steps")
        for step in steps:
            if not isinstance(step, Mapping):
                raise ValueError("each step must be an object")
            kind = step.get("kind")
            if kind == "standardize":
                mean = _finite_list(step.get("mean"), "standardize mean")
                std = _finite_list(step.get("std"), "standardize std", positive=True)
                size = spec.input_shape[0] if len(spec.input_shape) == 1 else 1
                if len(mean) != len(std) or len(mean) not in (1, size):
                    raise ValueError(
                        f"standardize mean ({len(mean)}) and std ({len(std)}) must both have "
                        f"{size} values for input_shape {list(spec.input_shape)}"
                    )
            elif kind == "layout":
                stored = [_int(d, 1, MAX_SAMPLE_ELEMENTS, "layout sizes") for d in step["stored"]]
                shape = [_int(d, 1, MAX_SAMPLE_ELEMENTS, "layout sizes") for d in step["shape"]]
                if tuple(shape) != spec.input_shape or math.prod(stored) != math.prod(shape):
                    raise ValueError(f"layout {stored} -> {shape} does not fit input_shape")
                order = step.get("transpose")
                if order is not None and sorted(order) != list(range(len(stored))):
                    raise ValueError(f"layout transpose {order} is not a permutation")
            elif kind == "image":
                size = _int(step.get("size"), 1, 4096, "image size")
                channels = step.get("channels")
                if channels not in (1, 3):
                    raise ValueError(f"image channels {channels!r} is not 1 or 3")
                if (channels, size, size) != spec.input_shape:
                    raise ValueError(f"image {channels}x{size}x{size} does not fit input_shape")
            elif kind == "tabular":
                _check_tabular(step, spec)
            else:
                raise ValueError(f"unknown step {kind!r}")
        classes = stats.get("classes")
        if classes is not None:
            if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
                raise ValueError("classes must be a list of labels")
            if spec.task == "classification" and len(classes) != spec.n_classes:
                raise ValueError(f"{len(classes)} classes for n_classes={spec.n_classes}")
        return stats
    except (KeyError, TypeError, ValueError) as exc:
        what = f"lacks {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ExportError(f"{where}: {what}; refusing to load it (re-export the model)") from None
