"""Seeded, stratified train/validation/test splitting and preprocessing fitted on the train split.

Splitting works on sample indices (``split_indices``); the arrays are materialized afterwards by
``assemble``, which reads each row of a (possibly memory-mapped) source once, in file order, in
blocks, and writes it straight into its split. Cross-validation can call ``assemble`` once per
fold with other index sets: every statistic and encoder is fitted on the given training indices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import mmap
from typing import Any

import numpy as np

from automl.core.errors import DataError
from automl.core.plugin import LAYOUT_RANKS, SAMPLE_LAYOUTS, DataSpec
from automl.data.preprocess import (
    CHUNK_BYTES,
    apply_preprocessing,
    fit_standardizer,
    fit_target_scaler,
    standardize_inplace,
)
from automl.data.reference import register_reference
from automl.data.types import DataConfig, Dataset, RawData, Split

__all__ = ["make_dataset", "split_indices", "assemble", "check_targets", "sample_layout"]


def _where(name: str, raw: RawData) -> str:
    return f"data '{name}' ({raw.source})" if raw.source else f"data '{name}'"


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise DataError(f"data.{name}={value} must be strictly between 0 and 1")


def _class_name(raw: RawData, c: int) -> str:
    names = raw.class_names
    return repr(names[c]) if names is not None and c < len(names) else str(c)


def check_targets(name: str, raw: RawData, y: np.ndarray, test_given: bool) -> None:
    """Reject targets no model can learn from, before anything is split.

    Raises:
        DataError: Only one class, a class too small to stratify, or non-finite regression
            targets; the message names the source and what to do.
    """
    where = _where(name, raw)
    if len(y) == 0:
        raise DataError(f"{where} has no samples")
    if raw.task != "classification":
        if not np.isfinite(y).all():
            bad = int(np.argmin(np.isfinite(y)))
            raise DataError(f"{where}: target is NaN or infinite at sample {bad}; fix or drop it")
        return
    if y.min() < 0:
        raise DataError(f"{where}: class ids must be 0, 1, ...; got {int(y.min())}")
    counts = np.bincount(y)
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise DataError(
            f"{where}: every sample has class {_class_name(raw, int(present[0]))}; "
            "classification needs at least two classes (use data.task=regression for a number)"
        )
    # Stratified splitting needs two samples of a class per split it is divided across.
    need = 2 if test_given else 3
    small = [int(c) for c in present if counts[c] < need]
    if small:
        c = small[0]
        raise DataError(
            f"{where}: class {_class_name(raw, c)} has only {counts[c]} sample(s); stratified "
            f"train/validation{'' if test_given else '/test'} splitting needs at least {need} "
            f"per class ({len(small)} class(es) too small): add samples or remove the class"
        )


def split_indices(
    y: np.ndarray, cfg: DataConfig, classify: bool, test_given: bool, where: str = "data"
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Seeded (and, for classification, stratified) indices of the train/val/test splits.

    Args:
        y: Targets of the samples to split.
        cfg: Split fractions and seed.
        classify: Stratify by ``y``.
        test_given: The source has its own test split; only validation is split off.
        where: Names the data in error messages.

    Returns:
        ``(train, val, test)`` index arrays into ``y``; ``test`` is ``None`` when given.
    """
    from sklearn.model_selection import train_test_split

    _check_fraction("val_fraction", cfg.val_fraction)

    def split(idx: np.ndarray, frac: float, what: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            a, b = train_test_split(
                idx, test_size=frac, random_state=cfg.seed, stratify=y[idx] if classify else None
            )
        except ValueError as exc:
            raise DataError(
                f"{where}: cannot split off the {what} set ({exc}); "
                f"change data.{what[:4]}_fraction or provide more samples per class"
            ) from None
        return np.asarray(a), np.asarray(b)

    everything = np.arange(len(y))
    test = None
    if not test_given:
        _check_fraction("test_fraction", cfg.test_fraction)
        everything, test = split(everything, cfg.test_fraction, "test")
    train, val = split(everything, cfg.val_fraction, "validation")
    return train, val, test


def _mapping(x: np.ndarray) -> tuple[mmap.mmap, int] | None:
    """The memory map behind ``x`` and its start address, if ``x`` is a mapped file."""
    base: Any = x
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    if base is None:
        return None
    try:
        return base, np.frombuffer(base, dtype=np.uint8, count=1).ctypes.data
    except (ValueError, TypeError, BufferError):
        return None


def _release(mapped: tuple[mmap.mmap, int] | None, x: np.ndarray, a: int, b: int) -> None:
    """Drop the pages of rows ``[a, b)`` of a mapped file from this process.

    They stay in the page cache (no re-read if needed again); this only keeps the process from
    holding the whole file as resident memory after each block has been copied into its split.
    """
    row = int(np.prod(x.shape[1:], dtype=np.int64)) * x.itemsize
    if mapped is None or not hasattr(mapped[0], "madvise") or x.strides[0] != row:
        return
    mm, start = mapped
    page = mmap.PAGESIZE
    lo = (x.ctypes.data + a * row - start) // page * page
    hi = min(len(mm), x.ctypes.data + b * row - start)
    hi = hi if b == len(x) else hi // page * page
    if lo >= 0 and hi > lo:
        try:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):
            pass  # best effort: only residency, never correctness, depends on it


def _gather(x: np.ndarray, parts: list[np.ndarray], where: str, what: str) -> list[np.ndarray]:
    """Copy the rows of each index array into a new float32 array, reading ``x`` once in order.

    Reading block by block in file order keeps I/O sequential for memory-mapped sources; each
    row is converted once and written directly into its split, so peak memory is the splits
    plus one block, not the source plus the splits.
    """
    n = len(x)
    which = np.full(n, -1, dtype=np.int8)
    pos = np.zeros(n, dtype=np.int64)
    for k, idx in enumerate(parts):
        which[idx] = k
        pos[idx] = np.arange(len(idx))
    outs = [np.empty((len(idx), *x.shape[1:]), dtype=np.float32) for idx in parts]
    check = x.dtype.kind == "f"  # integers (image pixels) are always finite
    row_bytes = max(1, int(np.prod(x.shape[1:], dtype=np.int64))) * max(4, x.itemsize)
    rows = max(1, CHUNK_BYTES // row_bytes)
    mapped = _mapping(x)
    for a in range(0, n, rows):
        b = min(n, a + rows)
        w, p = which[a:b], pos[a:b]
        if (w >= 0).any():
            block = np.asarray(x[a:b], dtype=np.float32)
            if check:
                finite = np.isfinite(block).reshape(len(block), -1).all(axis=1)
                if not finite.all():
                    bad = a + int(np.argmin(finite))
                    raise DataError(
                        f"{where}: {what} holds NaN or infinite values (first at sample {bad}); "
                        "replace or remove them before training"
                    )
            for k, out in enumerate(outs):
                m = w == k
                if m.any():
                    out[p[m]] = block[m]
        _release(mapped, x, a, b)
    return outs


def assemble(
    name: str,
    raw: RawData,
    y: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    test_idx: np.ndarray | None,
    cfg: DataConfig,
    y_test: np.ndarray | None = None,
) -> Dataset:
    """Build a ``Dataset`` from index sets, fitting every statistic on ``train_idx`` only.

    Args:
        name: Data plugin name (goes into the spec).
        raw: The plugin's data.
        y: ``raw.y`` as int64 class ids or float32 targets.
        train_idx: Training rows of ``raw.x``.
        val_idx: Validation rows of ``raw.x``.
        test_idx: Test rows of ``raw.x``, or ``None`` to use ``raw.x_test``.
        cfg: Split settings (``normalize``).
        y_test: Converted ``raw.y_test`` when ``test_idx`` is ``None``.

    Returns:
        The ``Dataset`` every trial of this process shares.
    """
    where = _where(name, raw)
    x = raw.x if isinstance(raw.x, np.ndarray) else np.asarray(raw.x)
    steps: list[dict[str, Any]] = [raw.input_step] if raw.input_step else []
    if raw.encoder is not None:
        encoder = raw.encoder(x[train_idx])  # fitted on the training rows only
        steps.append(encoder)
        x_train = apply_preprocessing(x[train_idx], encoder)
        x_val = apply_preprocessing(x[val_idx], encoder)
        x_test = apply_preprocessing(x[test_idx] if test_idx is not None else raw.x_test, encoder)
    else:
        if x.dtype.kind not in "biuf":
            raise DataError(f"{where}: inputs have dtype {x.dtype}; they must be numbers")
        parts = [train_idx, val_idx] + ([test_idx] if test_idx is not None else [])
        outs = _gather(x, parts, where, "x")
        x_train, x_val = outs[0], outs[1]
        if test_idx is not None:
            x_test = outs[2]
        else:
            xt = np.asarray(raw.x_test)
            if xt.dtype.kind not in "biuf":
                raise DataError(f"{where}: test inputs have dtype {xt.dtype}; must be numbers")
            (x_test,) = _gather(xt, [np.arange(len(xt))], where, "x_test")
    if x_test.shape[1:] != x_train.shape[1:]:
        raise DataError(
            f"{where}: test samples have shape {x_test.shape[1:]} but training samples "
            f"{x_train.shape[1:]}; save both with the same per-sample shape"
        )
    if cfg.normalize:
        stats = fit_standardizer(x_train)
        steps.append(stats)
        for part in (x_train, x_val, x_test):
            standardize_inplace(part, stats)  # arrays are ours: no second copy
    y_te = y[test_idx] if test_idx is not None else y_test
    assert y_te is not None
    classify = raw.task == "classification"
    feature_names = raw.feature_names
    if raw.encoder is not None:
        feature_names = tuple(encoder["feature_names"])
    n_classes = None
    if classify:
        n_classes = int(max(y.max(), y_te.max()) + 1)
        if raw.class_names is not None:
            n_classes = max(n_classes, len(raw.class_names))
    # Regression targets: statistics of the training rows only, for models that standardize
    # them (SupervisedModule); the splits keep the original units, so every metric does too.
    target = fit_target_scaler(y[train_idx]) if not classify else None
    shape = tuple(int(d) for d in x_train.shape[1:])
    spec = DataSpec(
        name=name,
        task="classification" if classify else "regression",
        input_shape=shape,
        n_classes=n_classes,
        n_targets=1,
        feature_names=feature_names,
        target_mean=tuple(target["mean"]) if target else None,
        target_std=tuple(target["std"]) if target else None,
        layout=sample_layout(raw.layout, shape, _where(name, raw)),
    )
    preprocessing: dict[str, Any] = {"steps": steps}
    if target is not None:
        preprocessing["target"] = target
    if classify and raw.class_names is not None:
        preprocessing["classes"] = list(raw.class_names)
    return Dataset(
        spec=spec,
        train=Split(x_train, y[train_idx]),
        val=Split(x_val, y[val_idx]),
        test=Split(x_test, y_te),
        preprocessing=preprocessing,
        augment=dict(raw.augment),
    )


def sample_layout(layout: str | None, shape: tuple[int, ...], where: str) -> Any:
    """The ``DataSpec.layout`` of samples of ``shape``: the data plugin's ``RawData.layout``
    checked against the rank, or, when it gave none, ``flat`` for rank 1, ``image`` for rank
    3 (what every model reads them as) and ``None`` otherwise.

    Raises:
        DataError: A layout that is not one of ``SAMPLE_LAYOUTS`` or does not fit the rank.
    """
    if layout is None:
        return {1: "flat", 3: "image"}.get(len(shape))
    if layout not in SAMPLE_LAYOUTS:
        raise DataError(
            f"{where}: the data plugin says layout {layout!r}; RawData.layout is one of "
            f"{', '.join(SAMPLE_LAYOUTS)} or None (fix the plugin)"
        )
    if LAYOUT_RANKS[layout] != len(shape):
        raise DataError(
            f"{where}: the data plugin says its samples are {layout} (rank "
            f"{LAYOUT_RANKS[layout]}) but they have shape {shape}; fix RawData.layout or x"
        )
    return layout


def make_dataset(name: str, raw: RawData, cfg: DataConfig) -> Dataset:
    """Split ``raw`` and fit preprocessing on the training split.

    Args:
        name: Data plugin name (goes into the spec).
        raw: Arrays from the data plugin.
        cfg: Split settings.

    Returns:
        The ``Dataset`` every trial of this process shares.

    Raises:
        DataError: For unusable fractions, mismatched lengths, a single class or too few
            samples per class, non-numeric or non-finite inputs.
    """
    where = _where(name, raw)
    if cfg.folds == 1 or cfg.folds < 0:
        raise DataError(
            f"data.folds={cfg.folds}: k-fold cross-validation needs at least 2 folds; set "
            "data.folds=5 (say), or data.folds=0 for one validation split"
        )
    if raw.task not in ("classification", "regression"):
        raise DataError(
            f"{where}: the data plugin says task {raw.task!r}; data is classification or "
            "regression (fix the plugin's RawData.task)"
        )
    classify = raw.task == "classification"
    y = np.asarray(raw.y)
    if len(raw.x) != len(y):
        raise DataError(f"{where}: x has {len(raw.x)} samples but y has {len(y)}; they must match")
    test_given = raw.x_test is not None and raw.y_test is not None
    y_test = None
    if raw.x_test is not None and raw.y_test is not None:
        y_test = np.asarray(raw.y_test)
        if len(raw.x_test) != len(y_test):
            raise DataError(
                f"{where}: x_test has {len(raw.x_test)} samples but y_test has {len(y_test)}; "
                "they must match"
            )
        y_test = y_test.astype(np.int64) if classify else y_test.astype(np.float32)
    y = y.astype(np.int64) if classify else y.astype(np.float32)
    check_targets(name, raw, y, test_given)
    train, val, test = split_indices(y, cfg, classify, test_given, where)
    rest = np.sort(np.concatenate([train, val]))
    if cfg.folds:
        dataset = _cross_validation(name, raw, y, rest, test, cfg, y_test)
    else:
        dataset = assemble(name, raw, y, train, val, test, cfg, y_test=y_test)
    fingerprint = _fingerprint(name, raw, cfg)
    for part in [dataset, *dataset.folds]:
        part.spec = dataclasses.replace(part.spec, fingerprint=fingerprint)
    register_reference(fingerprint, dataset.train)  # the holdout's, or fold 0's, rows

    def merged() -> Dataset:
        out = assemble(name, raw, y, rest, rest[:0], test, cfg, y_test=y_test)
        out.spec = dataclasses.replace(out.spec, fingerprint=fingerprint)
        return out

    dataset.merged = merged
    return dataset


def _fingerprint(name: str, raw: RawData, cfg: DataConfig) -> str:
    """Names the data set as loaded: the plugin, its options (split settings included), the
    source and the arrays' shapes; every split, fold and merged set of one load shares it."""
    shapes = (np.shape(raw.x), np.shape(raw.y), None if raw.x_test is None else raw.x_test.shape)
    text = f"{name}|{cfg!r}|{shapes}|{raw.source}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cross_validation(
    name: str,
    raw: RawData,
    y: np.ndarray,
    rest: np.ndarray,
    test: np.ndarray | None,
    cfg: DataConfig,
    y_test: np.ndarray | None,
) -> Dataset:
    """One ``Dataset`` per fold of the non-test rows, each with statistics of its own
    training rows; the test split is the same for all."""
    from sklearn.model_selection import KFold, StratifiedKFold

    classify = raw.task == "classification"
    splitter = (StratifiedKFold if classify else KFold)(
        n_splits=cfg.folds, shuffle=True, random_state=cfg.seed
    )
    try:
        parts = list(splitter.split(rest, y[rest]))
    except ValueError as exc:
        raise DataError(
            f"{_where(name, raw)}: cannot make {cfg.folds} folds ({exc}); lower data.folds"
        ) from None
    folds = [
        assemble(name, raw, y, rest[tr], rest[va], test, cfg, y_test=y_test) for tr, va in parts
    ]
    folds[0].folds = folds
    return folds[0]
