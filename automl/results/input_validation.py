"""Checking raw prediction inputs against an ``InputSchema`` (``validate_inputs``).

Every input is checked here before preprocessing touches it, so a wrong shape, a missing
column, text in a numeric field, an unknown category or NaN where training had none is one
``InputError`` naming the field and what was expected, never a numpy or torch error.
Only numpy is imported here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from automl.core.errors import InputError
from automl.results.schema import Column, InputSchema

__all__ = ["validate_inputs"]

_SHOWN = 12  # at most this many names or levels are listed in a message
_BYTES = (bytes, bytearray)
PIXEL_MAX = 255
"""Image-folder models train on 8-bit pixels (0-255, as decoded from the files)."""


def _listing(items: Sequence[Any]) -> str:
    shown = ", ".join(str(i) for i in items[:_SHOWN])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _SHOWN else "")


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def validate_inputs(
    schema: InputSchema, x: object, where: str = "instances", allow_paths: bool = False
) -> Any:
    """Check raw inputs against ``schema`` and return them in the form its preprocessing takes.

    Args:
        schema: The exported model's input schema.
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
    if schema.form == "table":
        return _validate_rows(schema, x, where)
    if schema.form == "image":
        return _validate_images(schema, x, where, allow_paths)
    if isinstance(x[0], _BYTES):
        raise InputError(
            f"{where}[0] is image bytes, but this model takes numbers of per-sample shape "
            f"{_shape_text(schema.accepted[0])} (only models trained on an image folder, "
            "data=images, decode images)",
            f"{where}[0]",
        )
    if schema.feature_names and not isinstance(x, np.ndarray):
        if any(isinstance(s, Mapping) for s in x):
            x = _mappings_to_rows(schema, x, where)
    arr = _numbers(schema, x, where)
    return _shaped(schema, arr, where)


def _mappings_to_rows(schema: InputSchema, x: Sequence[Any], where: str) -> list[list[Any]]:
    names = schema.feature_names or ()
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
        unknown = [k for k in sample if k not in schema.feature_positions]
        if unknown:
            raise InputError(
                f"{where}[{i}] has unknown feature(s) {_listing(unknown)}; the features "
                f"are {_listing(names)}",
                f"{where}[{i}].{unknown[0]}",
            )
        rows.append([sample[n] for n in names])
    return rows


def _field(where: str, index: tuple[int, ...]) -> str:
    return where + "".join(f"[{i}]" for i in index)


def _shown(schema: InputSchema, where: str, index: tuple[int, ...]) -> str:
    """The field with its feature's name, for messages: ``instances[0][3] ('area')``."""
    text = _field(where, index)
    if schema.feature_names and len(index) == 2:
        text += f" ('{schema.feature_names[index[1]]}')"
    return text


def _has_bool(x: Any, depth: int) -> bool:
    """Whether nested lists ``x`` (``depth`` levels, as numpy counted them) hold a ``bool``.

    numpy turns ``[1.5, true]`` into ``[1.5, 1.0]``; JSON's ``true`` is no number, so it must
    be found before. Only the innermost lists' element types are looked at (a C-speed
    ``map(type, ...)`` per row), so a 1000-row batch costs well under a millisecond.
    """
    if depth <= 1:
        return any(t is bool or t is np.bool_ for t in set(map(type, x)))
    return any(_has_bool(v, depth - 1) for v in x)


def _numbers(schema: InputSchema, x: object, where: str) -> np.ndarray:
    """``x`` as float64, or an ``InputError`` naming the first value that is no number."""
    try:
        arr = np.asarray(x)
    except ValueError:
        arr = np.asarray(None)  # ragged nesting: located below
    if arr.dtype.kind in "iuf" and arr.ndim >= 1:
        if isinstance(x, np.ndarray) or not _has_bool(x, arr.ndim):
            return arr.astype(np.float64, copy=False)
    _locate(schema, x, where, ())
    raise InputError(
        f"{where} must hold numbers only, as nested lists of per-sample shape "
        f"{_shape_text(schema.accepted[0])}",
        where,
    )


MAX_NESTING = 8
"""Lists nested deeper than this are no batch of samples (a sample has at most 4 dimensions)."""


def _locate(schema: InputSchema, x: object, where: str, index: tuple[int, ...]) -> None:
    """Raise for the first value in nested ``x`` that is not a number (or ragged)."""
    if len(index) > MAX_NESTING:
        raise InputError(
            f"{_field(where, index)} nests lists deeper than {MAX_NESTING} levels; every "
            f"sample must have shape {_shape_text(schema.accepted[0])}",
            _field(where, index),
        )
    if isinstance(x, (bool, np.bool_)) or isinstance(x, (str, bytes)) or x is None:
        shown = "null" if x is None else repr(x)
        raise InputError(
            f"{_shown(schema, where, index)} is {shown}; expected a number",
            _field(where, index),
        )
    if isinstance(x, (int, float, np.integer, np.floating)):
        return
    if isinstance(x, np.ndarray) and x.dtype.kind in "iuf":
        return
    if isinstance(x, Mapping):
        raise InputError(
            f"{_shown(schema, where, index)} is an object; expected a number or a list",
            _field(where, index),
        )
    if not isinstance(x, (Sequence, np.ndarray)):
        raise InputError(
            f"{_shown(schema, where, index)} is a {type(x).__name__}; expected a number",
            _field(where, index),
        )
    lengths = set()
    for i, v in enumerate(x):
        _locate(schema, v, where, (*index, i))
        if isinstance(v, (Sequence, np.ndarray)) and not isinstance(v, (str, bytes)):
            lengths.add(len(v))
        else:
            lengths.add(-1)
    if len(lengths) > 1:
        raise InputError(
            f"{_shown(schema, where, index)} holds lists of different lengths; every sample "
            f"must have shape {_shape_text(schema.accepted[0])}",
            _field(where, index),
        )


def _shaped(schema: InputSchema, arr: np.ndarray, where: str) -> np.ndarray:
    sample = tuple(arr.shape[1:])
    if sample not in schema.accepted:
        also = [s for s in schema.accepted[1:]]
        hint = f" (also accepted: {', '.join(_shape_text(s) for s in also)})" if also else ""
        if tuple(arr.shape) in schema.accepted:
            hint += "; a single sample must still be wrapped in a list"
        raise InputError(
            f"{where} has per-sample shape {_shape_text(sample)}; expected "
            f"{_shape_text(schema.accepted[0])}{hint}",
            where,
        )
    # The model's own shape passes through (a layout step may transpose the stored one);
    # every other accepted shape holds the canonical one's values in row-major order.
    target = sample if sample == schema.shape else schema.accepted[0]
    arr = arr.reshape(len(arr), *target)
    finite = np.isfinite(arr)
    if not finite.all():
        flat_ok = finite.reshape(len(arr), -1)
        nan = np.isnan(arr).reshape(len(arr), -1)
        allowed = np.asarray(schema.nan_allowed, dtype=bool)
        if allowed.size == 1:
            allowed = np.broadcast_to(allowed, (flat_ok.shape[1],))
        bad = ~flat_ok & ~(nan & allowed)
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            at = (i, *(int(v) for v in np.unravel_index(j, target)))
            value = arr.reshape(len(arr), -1)[i, j]
            why = (
                "the training data had no missing values there"
                if np.isnan(value)
                else "expected a finite number"
            )
            raise InputError(f"{_shown(schema, where, at)} is {value}; {why}", _field(where, at))
    return arr


def _send_files_hint(schema: InputSchema) -> str:
    c, h, w = schema.accepted[0]
    return (
        f"send pixels as {c} x {h} x {w} (channels first, the trained size) or H x W x C "
        "(what numpy.asarray(PIL.Image.open(file)) gives, any size), or the image file's "
        'bytes ({"b64": ...} in JSON, or a multipart upload)'
    )


def _validate_images(schema: InputSchema, x: Any, where: str, allow_paths: bool) -> Any:
    """Image-folder inputs: file paths (where allowed), encoded image bytes, or pixels.

    Pixels in the trained ``C x H x W`` shape (or its aliases) come back as one float array;
    pixels in Pillow's ``H x W [x C]`` layout at any size as a list of ``uint8`` arrays, which
    the export's ``image`` step converts and resizes exactly as training did. Either must be
    on the training scale, 0-255: values outside it, or a sample whose largest value is
    above 0 and at most 1 (pixels scaled to 0-1), are refused.
    """
    kinds = {
        "path" if isinstance(s, str) else "bytes" if isinstance(s, _BYTES) else "pixels"
        for s in (x if not isinstance(x, np.ndarray) else x[:1])
    }
    if len(kinds) > 1:
        raise InputError(
            f"{where} mixes image files, image bytes and pixel arrays; send one kind per request",
            where,
        )
    kind = kinds.pop()
    if kind == "path":
        if not allow_paths:
            raise InputError(
                f"{where}[0] is a string (a file path is not read over HTTP); "
                f"{_send_files_hint(schema)}",
                f"{where}[0]",
            )
        return list(x)
    if kind == "bytes":
        return list(x)
    arr = _numbers(schema, x, where)
    sample = tuple(arr.shape[1:])
    if sample in schema.accepted:
        arr = _shaped(schema, arr, where)
        _check_pixels(arr, where)
        return arr
    hwc = len(sample) == 2 or (len(sample) == 3 and sample[2] in (1, 3, 4))
    if not hwc:
        raise InputError(
            f"{where} has per-sample shape {_shape_text(sample)}; {_send_files_hint(schema)}",
            where,
        )
    finite = np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise InputError(f"{where}[{i}] holds NaN or infinity; pixels are numbers 0-255", where)
    _check_pixels(arr, where)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    return list(np.rint(arr).astype(np.uint8))


def _check_pixels(arr: np.ndarray, where: str) -> None:
    """Refuse pixels that are not on the training scale (0-255)."""
    flat = arr.reshape(len(arr), -1)
    low, high = flat.min(axis=1), flat.max(axis=1)
    outside = (low < 0) | (high > PIXEL_MAX)
    if outside.any():
        i = int(np.argmax(outside))
        raise InputError(
            f"{where}[{i}] has pixel values from {low[i]:g} to {high[i]:g}; this model was "
            f"trained on 0-{PIXEL_MAX} pixels (an image file's own values): send the raw "
            "pixels, not standardized or rescaled ones",
            f"{where}[{i}]",
        )
    unit = (high > 0) & (high <= 1.0)
    if unit.any():
        i = int(np.argmax(unit))
        raise InputError(
            f"{where}[{i}] has pixel values between 0 and 1 (largest {high[i]:g}); this model "
            f"was trained on 0-{PIXEL_MAX} pixels: multiply them by {PIXEL_MAX}, or send the "
            'image file\'s bytes ({"b64": ...} in JSON, or a multipart upload)',
            f"{where}[{i}]",
        )


def _validate_rows(schema: InputSchema, x: Any, where: str) -> list[list[Any]]:
    columns = schema.columns
    names = [c.name for c in columns]
    na = frozenset(schema.na_values)
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
            _check_cell(schema, col, cell, na, f"{where}[{i}].{col.name}")
        rows.append(cells)
    return rows


def _check_cell(
    schema: InputSchema, col: Column, cell: object, na: frozenset[str], name: str
) -> None:
    missing = (
        cell is None
        or (isinstance(cell, float) and math.isnan(cell))
        or (isinstance(cell, str) and cell.strip() in na)
    )
    if missing:
        if schema.missing != "impute":
            raise InputError(
                f"{name} is missing; the model was trained with data.missing="
                f"{schema.missing}, so every cell needs a value",
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
