"""How each model family reads the data: the one place that decides whether a family gets the
samples as stored or transposed, and the view of a ``Dataset`` that it then trains on.

Models read a rank-2 sample in one of two ways (``ModelPlugin.layout``): a Conv1d as
``signal``, channels x length; an RNN as ``sequence``, steps x features. Data says which its
samples are (``DataSpec.layout``). When the two differ, the family is handed the samples
transposed (a 1 x 40 signal is 40 steps of 1 feature to an RNN), and the transposition is
recorded as a preprocessing step, so ``best/``, ``serve`` and ``predict`` apply it to raw inputs
exactly as training did. Rank 1 and 3, models without a ``layout`` and data that does not say
are handed the samples as stored (with a note when a rank-2 reading is a guess).

``automl.study.run.prepare`` decides it once per family of a study (``model=auto`` too); the library
entry points (``automl.study.train``) call the same functions.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from automl.core.plugin import DataSpec, ModelPlugin
from automl.data.types import Dataset, Split

__all__ = ["LayoutFit", "fit_layout", "as_layout", "spec_as", "describe"]

_AXES = {"sequence": ("steps", "features"), "signal": ("channels", "length")}


def describe(layout: str | None, shape: tuple[int, ...]) -> str:
    """``64 steps of 1 feature`` or ``1 channel of length 64``: a rank-2 shape in words."""
    a, b = shape
    if layout == "sequence":
        return f"{a} step{'s' * (a != 1)} of {b} feature{'s' * (b != 1)}"
    if layout == "signal":
        return f"{a} channel{'s' * (a != 1)} of length {b}"
    return f"{a} x {b}"


@dataclass(frozen=True)
class LayoutFit:
    """How one model family reads one data set.

    Attributes:
        transpose: Hand the family rank-2 samples with their two axes swapped.
        layout: The layout the family reads the samples in (``DataSpec.layout`` of its view).
        note: A line for the user when the reading is not the data's own (a transposition,
            or a guess because the data does not say), else ``None``.
    """

    transpose: bool = False
    layout: str | None = None
    note: str | None = None


def fit_layout(plugin: ModelPlugin, spec: DataSpec) -> LayoutFit:
    """How ``plugin``'s models read data described by ``spec`` (the only place it is decided)."""
    reads = getattr(plugin, "layout", None)
    if spec.rank != 2 or reads is None:
        return LayoutFit(layout=spec.layout)
    shape = tuple(spec.input_shape)
    steps, features = _AXES[reads]
    if spec.layout is None:
        return LayoutFit(
            layout=None,
            note=(
                f"data '{spec.name}' does not say what its {shape[0]} x {shape[1]} samples are "
                f"(RawData.layout 'sequence' or 'signal'); model '{plugin.name}' reads them as "
                f"{describe(reads, shape)} ({steps} x {features})"
            ),
        )
    if spec.layout == reads:
        return LayoutFit(layout=reads)
    swapped = (shape[1], shape[0])
    return LayoutFit(
        transpose=True,
        layout=reads,
        note=(
            f"model '{plugin.name}' reads {reads}s ({steps} x {features}): data "
            f"'{spec.name}' ({describe(spec.layout, shape)}) is handed to it as "
            f"{describe(reads, swapped)}, in training and in best/'s predictions"
        ),
    )


def spec_as(spec: DataSpec, fit: LayoutFit) -> DataSpec:
    """The ``DataSpec`` a family with ``fit`` sees (what its builder and loader get)."""
    if not fit.transpose:
        return spec
    a, b = spec.input_shape
    return dataclasses.replace(spec, input_shape=(b, a), layout=fit.layout)  # type: ignore[arg-type]


def _swap(split: Split) -> Split:
    return Split(split.x.transpose(0, 2, 1), split.y)


def _preprocessing(steps: dict[str, Any], stored_shape: tuple[int, ...]) -> dict[str, Any]:
    """The preprocessing with the transposition in its layout step (one step maps raw inputs
    to the model's shape; ``automl.results.exported`` checks exactly that)."""
    out = dict(steps)
    old = list(out.get("steps", []))
    a, b = stored_shape
    layout = next((s for s in old if s.get("kind") == "layout"), None)
    if layout is None:
        # Raw inputs are stored as the data's samples: transpose them first. A rank-2
        # standardization is one mean and std, the same before and after.
        step = {"kind": "layout", "stored": [a, b], "shape": [b, a], "transpose": [1, 0]}
        out["steps"] = [step, *old]
        return out
    stored = tuple(layout["stored"])
    if 1 in (a, b) and not layout.get("transpose"):
        # A reshape to 1 x L (or L x 1) then a swap is a reshape to L x 1 (1 x L).
        new = {**layout, "shape": [b, a]}
    elif tuple(stored) == (a, b) and not layout.get("transpose"):
        new = {**layout, "shape": [b, a], "transpose": [1, 0]}
    else:  # no data plugin of automl's makes this; refuse rather than export a wrong step
        raise ValueError(
            f"cannot transpose {a} x {b} samples after layout step {layout}: save the samples "
            "as the model reads them"
        )
    out["steps"] = [new if s is layout else s for s in old]
    return out


def as_layout(dataset: Dataset, fit: LayoutFit) -> Dataset:
    """``dataset`` as a family with ``fit`` reads it: the same object when nothing changes,
    else a view with swapped axes (its splits, folds, refit rows and preprocessing), with its
    own cache (device tensors of the other layout must not be reused)."""
    if not fit.transpose:
        return dataset
    original = dataset

    def view(part: Dataset) -> Dataset:
        return dataclasses.replace(
            part,
            spec=spec_as(part.spec, fit),
            train=_swap(part.train),
            val=_swap(part.val),
            test=_swap(part.test),
            preprocessing=_preprocessing(part.preprocessing, part.spec.input_shape),
            cache={},
            folds=[],
            merged=None,
        )

    out = view(original)
    if original.folds:
        folds = [out] + [view(f) for f in original.folds[1:]]
        for fold in folds:
            fold.folds = folds
    if original.merged is not None:
        merged = original.merged
        out.merged = lambda: view(merged())
    return out
