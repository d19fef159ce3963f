"""Input drift: the training distribution exported with a model, and PSI against it at serving.

Decision: the **population stability index** (PSI) over training deciles, per feature, on a
sliding window of the most recent served rows. Compared with a running mean/std it also sees
a change of shape (a feature that becomes bimodal, a category whose share moves, clipping)
rather than only a shift of the first two moments; it is unit-free, so one threshold fits
every feature; and its conventional reading is widely known (below 0.1 stable, 0.1-0.25 a
moderate shift, above 0.25 a major one). The mean and standard deviation of the training
values are exported too (``drift.json``) for people reading the numbers.

PSI = sum over bins of ``(a - e) * ln(a / e)``, with ``e`` the training share and ``a`` the
served share of a bin, both floored at ``EPS`` so an empty bin does not make it infinite.
With no drift at all a window of ``n`` rows still reads about ``(bins - 1) / n`` (sampling
noise): 0.009 for 10 bins and the default 1,000-row window.

Features are measured where the model sees them (after encoding and standardization), so
CSV categories become their one-hot columns. Tabular inputs with at most ``MAX_FEATURES``
features get one PSI each; images, sequences and wider inputs are summarized per sample
(mean, standard deviation, minimum and maximum of its values), which catches a change of
brightness, contrast or scale without one time series per pixel.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DRIFT_FILE",
    "EPS",
    "MAX_FEATURES",
    "SUMMARY",
    "MIN_SAMPLES",
    "DriftReference",
    "DriftMonitor",
    "drift_features",
]

DRIFT_FILE = "drift.json"
EPS = 1e-4
MAX_FEATURES = 256
SUMMARY = ("sample_mean", "sample_std", "sample_min", "sample_max")
QUANTILES = tuple(q / 10 for q in range(1, 10))
MIN_SAMPLES = 100
"""Fewer recent rows than this (or than the window) give no PSI (NaN): a handful of rows
would read as a huge shift."""


def drift_features(x: np.ndarray, per_feature: bool) -> np.ndarray:
    """The values drift is measured on: ``x`` itself (rank-1 rows) or a per-sample summary."""
    x = np.asarray(x, dtype=np.float64)
    if per_feature:
        return x.reshape(len(x), -1)
    flat = x.reshape(len(x), -1)
    # Served inputs are checked first (no NaN unless training had some): plain reductions.
    return np.stack(
        [flat.mean(axis=1), flat.std(axis=1), flat.min(axis=1), flat.max(axis=1)], axis=1
    )


@dataclass(frozen=True)
class DriftReference:
    """The training distribution of each drift feature.

    Attributes:
        names: Feature names (training feature names, or ``SUMMARY``).
        per_feature: ``True`` when the features are the model inputs themselves.
        edges: Per feature, the increasing interior bin edges (training deciles, deduplicated).
        expected: Per feature, the training share of each of the ``len(edges) + 1`` bins.
        mean: Training mean per feature.
        std: Training standard deviation per feature.
        target_edges: Training deciles of the regression target (bucket bounds of the
            predicted-value histogram), empty for classification.
    """

    names: tuple[str, ...]
    per_feature: bool
    edges: tuple[np.ndarray, ...]
    expected: tuple[np.ndarray, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    target_edges: tuple[float, ...] = ()

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        feature_names: Sequence[str] | None = None,
        y: np.ndarray | None = None,
        regression: bool = False,
    ) -> DriftReference:
        """Fit on the (preprocessed) training inputs ``x`` and, for regression, targets ``y``."""
        x = np.asarray(x)
        n_values = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
        per_feature = x.ndim == 2 and n_values <= MAX_FEATURES
        values = drift_features(x, per_feature)
        if per_feature:
            names = tuple(feature_names) if feature_names else ()
            if len(names) != values.shape[1]:
                names = tuple(f"feature_{j}" for j in range(values.shape[1]))
        else:
            names = SUMMARY
        edges, expected, means, stds = [], [], [], []
        for j in range(values.shape[1]):
            col = values[:, j]
            col = col[np.isfinite(col)]
            cut = np.unique(np.quantile(col, QUANTILES)) if len(col) else np.zeros(0)
            counts = np.bincount(np.searchsorted(cut, col, side="right"), minlength=len(cut) + 1)
            edges.append(cut)
            expected.append(counts / max(1, len(col)))
            means.append(float(col.mean()) if len(col) else 0.0)
            stds.append(float(col.std()) if len(col) else 0.0)
        target_edges: tuple[float, ...] = ()
        if regression and y is not None and len(y):
            target = np.asarray(y, dtype=np.float64).reshape(-1)
            target = target[np.isfinite(target)]
            if len(target):
                target_edges = tuple(float(v) for v in np.unique(np.quantile(target, QUANTILES)))
        return cls(
            names, per_feature, tuple(edges), tuple(expected), tuple(means), tuple(stds),
            target_edges,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for ``best/drift.json``."""
        return {
            "format": 1,
            "method": "psi",
            "per_feature": self.per_feature,
            "features": [
                {
                    "name": name,
                    "edges": edges.tolist(),
                    "expected": expected.tolist(),
                    "mean": mean,
                    "std": std,
                }
                for name, edges, expected, mean, std in zip(
                    self.names, self.edges, self.expected, self.mean, self.std, strict=True
                )
            ],
            "target_edges": list(self.target_edges),
        }

    @classmethod
    def from_json(cls, data: object, n_features: int | None = None) -> DriftReference:
        """Read and check ``drift.json`` (untrusted).

        Raises:
            ValueError: Naming what is wrong (non-finite or unsorted edges, shares that do not
                match their edges or sum to 1, a feature count that does not fit the model).
        """
        if not isinstance(data, dict) or data.get("format") != 1 or data.get("method") != "psi":
            raise ValueError("not an automl PSI drift reference of format 1")
        features = data["features"]
        if not isinstance(features, list) or not features:
            raise ValueError("no features")
        per_feature = bool(data["per_feature"])
        if per_feature and n_features is not None and len(features) != n_features:
            raise ValueError(f"{len(features)} features for a model with {n_features}")
        if not per_feature and [f["name"] for f in features] != list(SUMMARY):
            raise ValueError(f"summary features must be {', '.join(SUMMARY)}")
        names, edges, expected, means, stds = [], [], [], [], []
        for f in features:
            cut = np.asarray(f["edges"], dtype=np.float64).reshape(-1)
            share = np.asarray(f["expected"], dtype=np.float64).reshape(-1)
            if len(cut) > 64 or not np.isfinite(cut).all() or np.any(np.diff(cut) <= 0):
                raise ValueError(f"feature {f['name']!r}: edges must be at most 64 increasing")
            if len(share) != len(cut) + 1 or not np.isfinite(share).all() or share.min() < 0:
                raise ValueError(f"feature {f['name']!r}: needs {len(cut) + 1} shares >= 0")
            if abs(share.sum() - 1.0) > 1e-6 and share.sum() != 0:
                raise ValueError(f"feature {f['name']!r}: shares sum to {share.sum()}, not 1")
            mean, std = float(f["mean"]), float(f["std"])
            if not (np.isfinite(mean) and np.isfinite(std)):
                raise ValueError(f"feature {f['name']!r}: mean and std must be finite")
            names.append(str(f["name"]))
            edges.append(cut)
            expected.append(share)
            means.append(mean)
            stds.append(std)
        target = tuple(float(v) for v in data.get("target_edges") or [])
        if len(target) > 64 or not all(np.isfinite(target)) or list(target) != sorted(set(target)):
            raise ValueError("target_edges must be at most 64 increasing finite values")
        return cls(
            tuple(names), per_feature, tuple(edges), tuple(expected), tuple(means), tuple(stds),
            target,
        )  # fmt: skip


class DriftMonitor:
    """PSI of the last ``window`` served rows against a ``DriftReference`` (thread-safe).

    ``add`` only keeps a reference to each batch (about a microsecond on the request path,
    and never more than a window's worth of rows); the pending batches are binned together
    when the PSI is read (a Prometheus scrape).

    Args:
        reference: The training distribution.
        window: Rows kept; older rows leave the window as new ones arrive.
    """

    def __init__(self, reference: DriftReference, window: int = 1000) -> None:
        self.reference = reference
        self.window = max(1, int(window))
        sizes = [len(e) + 1 for e in reference.edges]
        # All features' bins in one flat count vector: one bincount per batch, not per feature.
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._sizes = sizes
        self._counts = np.zeros(sum(sizes), dtype=np.int64)
        self._expected = np.concatenate(reference.expected)
        self._slots = np.zeros((self.window, len(sizes)), dtype=np.int64)
        self._used = np.zeros(self.window, dtype=bool)
        self._filled = 0
        self._next = 0
        self._lock = threading.Lock()
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0

    @property
    def samples(self) -> int:
        """Rows currently in the window (after binning what is pending)."""
        self.flush()
        return self._filled

    def add(self, x: np.ndarray) -> None:
        """Queue a batch of model inputs for the window (binned in bulk, see ``flush``)."""
        with self._lock:
            self._pending.append(x)
            self._pending_rows += len(x)
            # Rows older than a window's worth can never be counted: let them go now.
            while self._pending_rows - len(self._pending[0]) >= self.window:
                self._pending_rows -= len(self._pending.pop(0))

    def flush(self) -> None:
        """Bin every pending batch into the window."""
        with self._lock:
            pending, self._pending, self._pending_rows = self._pending, [], 0
        if pending:
            self.update(pending[0] if len(pending) == 1 else np.concatenate(pending))

    def update(self, x: np.ndarray) -> None:
        """Add model inputs (a batch, preprocessed) to the window now."""
        values = drift_features(x, self.reference.per_feature)
        if values.ndim != 2 or values.shape[1] != len(self._sizes):
            return  # not this model's inputs: nothing sensible to count
        values = values[-self.window :]
        flat = np.empty(values.shape, dtype=np.int64)
        for j, cut in enumerate(self.reference.edges):
            flat[:, j] = np.searchsorted(cut, values[:, j], side="right")
        flat += self._offsets
        size = len(self._counts)
        with self._lock:
            slots = (self._next + np.arange(len(flat))) % self.window
            old = self._slots[slots[self._used[slots]]]
            if len(old):
                self._counts -= np.bincount(old.reshape(-1), minlength=size)
            self._counts += np.bincount(flat.reshape(-1), minlength=size)
            self._slots[slots] = flat
            self._used[slots] = True
            self._filled = int(self._used.sum())
            self._next = int((self._next + len(flat)) % self.window)

    def psi(self) -> list[float]:
        """PSI per feature; NaN until the window holds ``min(MIN_SAMPLES, window)`` rows."""
        self.flush()
        with self._lock:
            filled, counts = self._filled, self._counts.copy()
        if filled < min(MIN_SAMPLES, self.window):
            return [math.nan] * len(self._sizes)
        a = np.maximum(counts / filled, EPS)
        e = np.maximum(self._expected, EPS)
        return np.add.reduceat((a - e) * np.log(a / e), self._offsets).tolist()

    def score(self) -> float:
        """The overall drift score: the mean PSI over features (NaN while too few rows)."""
        values = self.psi()
        return float(np.mean(values)) if values else math.nan
