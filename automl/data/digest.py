"""A content digest of loaded data: what tells one data set from another in a study's identity.

The digest is taken from the arrays a data plugin returned, not from files, so it works for
every plugin (third-party ones included), says "same data" for a copy of a file at another path
or on another machine, and "different data" for another file with the same name. Large inputs
are sampled (shape, dtype and evenly spaced rows, the targets in full), so hashing costs
milliseconds whatever the size.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from automl.data.types import RawData

__all__ = ["data_digest"]

SAMPLED_ROWS = 4096


def _feed(h: hashlib.blake2b, name: str, a: object) -> None:
    if a is None:
        h.update(f"{name}:none;".encode())
        return
    a = np.asarray(a) if not isinstance(a, np.ndarray) else a
    h.update(f"{name}:{a.shape}:{a.dtype.str};".encode())
    if len(a) == 0:
        return
    rows = np.unique(np.linspace(0, len(a) - 1, min(len(a), SAMPLED_ROWS)).astype(np.int64))
    sample = a[rows]
    if sample.dtype.kind == "O":  # CSV cells, file paths: their text is their content
        h.update(repr(sample.tolist()).encode())
    else:
        h.update(np.ascontiguousarray(sample).tobytes())


def data_digest(raw: RawData) -> str:
    """A short hex digest of a ``RawData``'s inputs, targets and given test split."""
    h = hashlib.blake2b(digest_size=12)
    for name in ("x", "y", "x_test", "y_test"):
        value = getattr(raw, name, None)
        if name.startswith("y") and value is not None:
            value = np.asarray(value)
            h.update(f"{name}:{value.shape}:{value.dtype.str};".encode())
            h.update(repr(value.tolist()).encode() if value.dtype.kind == "O" else value.tobytes())
        else:
            _feed(h, name, value)
    h.update(repr((raw.task, raw.feature_names, raw.class_names)).encode())
    return h.hexdigest()
