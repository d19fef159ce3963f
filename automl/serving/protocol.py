"""Request and response formats of the server, apart from HTTP itself (numpy only).

``/predict`` and ``/invocations`` bodies (``instances``, MLflow's ``inputs``,
``dataframe_split``, ``dataframe_records``), Open Inference Protocol v2 tensors in and out,
and the PNG grid of ``/generate``. Every malformed body is an ``HTTPError`` naming the field.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from automl.results.predictor import Predictor

__all__ = [
    "HTTPError",
    "instances_of",
    "image_bytes",
    "v2_tensor",
    "v2_samples",
    "v2_outputs",
    "predictions_json",
    "png_grid",
]


class HTTPError(Exception):
    """An answer other than 200, with a one-line message (and the field at fault)."""

    def __init__(self, status: int, message: str, field: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def instances_of(body: object) -> tuple[Any, str]:
    """The samples of a /predict or /invocations body, and how to name them in messages."""
    if isinstance(body, Mapping):
        for key in ("instances", "inputs"):
            if key in body:
                return body[key], key
        if "dataframe_split" in body:
            split = body["dataframe_split"]
            if not isinstance(split, Mapping) or not isinstance(split.get("data"), list):
                raise HTTPError(422, "dataframe_split needs columns and data", "dataframe_split")
            columns = split.get("columns")
            if columns is None:
                return split["data"], "dataframe_split.data"
            rows = []
            for i, row in enumerate(split["data"]):
                if not isinstance(row, list) or len(row) != len(columns):
                    raise HTTPError(
                        422,
                        f"dataframe_split.data[{i}] must be a list of {len(columns)} cells",
                        f"dataframe_split.data[{i}]",
                    )
                rows.append(dict(zip(columns, row, strict=True)))
            return rows, "dataframe_split.data"
        if "dataframe_records" in body:
            return body["dataframe_records"], "dataframe_records"
    raise HTTPError(
        422,
        'the body must be a JSON object with "instances": a list of samples (rows as lists or '
        "{column: value} objects, arrays for images); MLflow's inputs, dataframe_split and "
        "dataframe_records are accepted too",
        "instances",
    )


def image_bytes(samples: object, where: str) -> Any:
    """Samples sent as ``{"b64": "<base64 of a PNG/JPEG file>"}`` (TensorFlow Serving's and
    Vertex AI's convention; a ``data:image/png;base64,`` prefix is allowed) as the file bytes;
    anything else is returned unchanged."""
    if not (
        isinstance(samples, list)
        and samples
        and all(isinstance(s, Mapping) and set(s) == {"b64"} for s in samples)
    ):
        return samples
    out = []
    for i, sample in enumerate(samples):
        text = sample["b64"]
        field = f"{where}[{i}].b64"
        if not isinstance(text, str):
            raise HTTPError(422, f"{field} must be a base64 string", field)
        if text.startswith("data:") and "," in text:
            text = text.split(",", 1)[1]
        try:
            out.append(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            raise HTTPError(
                422,
                f"{field} is not base64 (the characters A-Z a-z 0-9 + / and = padding); "
                "encode the file's bytes, e.g. base64 -w0 cat.png",
                field,
            ) from None
    return out


V2_DTYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": object,
}


def v2_tensor(spec: object, i: int) -> tuple[str, np.ndarray]:
    """One Open Inference Protocol input tensor as an array of its declared shape."""
    where = f"inputs[{i}]"
    if not isinstance(spec, Mapping):
        raise HTTPError(422, f"{where} must be an object: name, shape, datatype, data", where)
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in spec]
    if missing:
        raise HTTPError(422, f"{where} lacks {', '.join(missing)}", f"{where}.{missing[0]}")
    dtype = V2_DTYPES.get(str(spec["datatype"]).upper())
    if dtype is None:
        raise HTTPError(
            422,
            f"{where}.datatype {spec['datatype']!r} is not one of {', '.join(V2_DTYPES)}",
            f"{where}.datatype",
        )
    shape = spec["shape"]
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise HTTPError(422, f"{where}.shape must be a list of sizes", f"{where}.shape")
    if dtype not in (np.bool_, object) and _holds_bool(spec["data"]):
        # numpy reads true as 1.0; JSON's true is no number.
        raise HTTPError(
            422,
            f"{where}.data holds true/false; {spec['datatype']} data must be numbers (send "
            "BOOL for flags)",
            f"{where}.data",
        )
    try:
        data: np.ndarray = np.asarray(spec["data"], dtype=dtype)
    except (TypeError, ValueError):
        raise HTTPError(
            422,
            f"{where}.data does not hold {spec['datatype']} values only",
            f"{where}.data",
        ) from None
    if data.size != int(np.prod(shape)):
        raise HTTPError(
            422,
            f"{where}.data has {data.size} values; shape {shape} needs {int(np.prod(shape))}",
            f"{where}.data",
        )
    return str(spec["name"]), data.reshape(shape)


def _holds_bool(data: object) -> bool:
    """Whether JSON data (a number, or lists nested a few levels) holds ``true``/``false``."""
    pending, levels = [data], 0
    while pending and levels < 8:
        kinds = set(map(type, pending))
        if bool in kinds:
            return True
        pending = [v for item in pending if isinstance(item, list) for v in item]
        levels += 1
    return False


def v2_samples(predictor: Any, tensors: list[tuple[str, np.ndarray]]) -> Any:
    """Samples from v2 tensors: one batch tensor, or one ``[n]`` tensor per column/feature."""
    if len(tensors) == 1:
        arr = tensors[0][1]
        return arr.tolist() if arr.dtype == object else arr
    names = predictor.schema.input_names()
    given = [n for n, _ in tensors]
    unknown = [n for n in given if n not in names]
    if unknown:
        raise HTTPError(
            422,
            f"input {unknown[0]!r} is not a column of the model; one tensor per column needs "
            f"the names from GET /v2/models/<name> ({len(names)} inputs)",
            f"inputs.{unknown[0]}",
        )
    lengths = {len(a.reshape(len(a), -1)) if a.ndim else -1 for _, a in tensors}
    if len(lengths) != 1 or any(a.ndim == 0 or a.size != len(a) for _, a in tensors):
        raise HTTPError(422, "per-column inputs must all have shape [n] (or [n, 1])", "inputs")
    n = lengths.pop()
    columns = {name: a.reshape(-1).tolist() for name, a in tensors}
    return [{name: columns[name][i] for name in columns} for i in range(n)]


def predictions_json(
    predictor: Predictor, pred: np.ndarray, proba: np.ndarray | None
) -> dict[str, Any]:
    """The ``/predict`` reply: labels, class ids and probabilities, or values."""
    if predictor.task == "classification":
        out: dict[str, Any] = {
            "predictions": predictor.labels_of(pred),
            "class_ids": np.asarray(pred).astype(int).tolist(),
        }
        if proba is not None:
            out["probabilities"] = np.asarray(proba).tolist()
            out["classes"] = predictor.classes
        return out
    return {"predictions": np.asarray(pred, dtype=np.float64).tolist()}


def v2_outputs(
    predictor: Predictor, pred: np.ndarray, proba: np.ndarray | None
) -> list[dict[str, Any]]:
    """Open Inference Protocol v2 output tensors: label, class_id, probabilities (or prediction)."""
    n = len(pred)
    outputs: list[dict[str, Any]] = []
    if predictor.task == "classification":
        labels = predictor.labels_of(pred)
        outputs.append({"name": "label", "datatype": "BYTES", "shape": [n], "data": labels})
        outputs.append(
            {
                "name": "class_id",
                "datatype": "INT64",
                "shape": [n],
                "data": np.asarray(pred).astype(int).tolist(),
            }
        )
        if proba is not None:
            p = np.asarray(proba, dtype=np.float64)
            outputs.append(
                {
                    "name": "probabilities",
                    "datatype": "FP64",
                    "shape": list(p.shape),
                    "data": p.reshape(-1).tolist(),
                }
            )
    else:
        values = np.asarray(pred, dtype=np.float64)
        outputs.append(
            {
                "name": "prediction",
                "datatype": "FP64",
                "shape": list(values.shape),
                "data": values.reshape(-1).tolist(),
            }
        )
    return outputs


def png_grid(samples: np.ndarray) -> bytes:
    """Samples ``(N, C, H, W)`` tiled into one PNG (each image scaled to its own range)."""
    from PIL import Image

    low = samples.min(axis=(1, 2, 3), keepdims=True)
    high = samples.max(axis=(1, 2, 3), keepdims=True)
    unit = (samples - low) / np.maximum(high - low, 1e-12)
    n, channels, height, width = unit.shape
    nrow = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / nrow))
    grid = np.zeros((channels, rows * (height + 2) + 2, nrow * (width + 2) + 2))
    for i, image in enumerate(unit):
        r, c = divmod(i, nrow)
        top, left = 2 + r * (height + 2), 2 + c * (width + 2)
        grid[:, top : top + height, left : left + width] = image
    pixels = np.round(grid * 255).astype(np.uint8)
    picture = (
        Image.fromarray(pixels[0], "L")
        if channels == 1
        else Image.fromarray(pixels[:3].transpose(1, 2, 0), "RGB")
    )
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
