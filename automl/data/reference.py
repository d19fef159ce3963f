"""One fixed training split per data set, for instruments that must not change between folds.

Some plugins measure with a model fitted on real data, such as the GAN's Frechet distance,
computed in the feature space of a classifier. If every fold, holdout fit or refit trained that
instrument on its own training rows, their numbers would be measured on different scales.
``make_dataset`` therefore records, per data set (``DataSpec.fingerprint``), the training split
of its first split (the holdout's, or fold 0's), and ``reference_split`` hands it out: the same
rows for every fold and the refit, in any process that loads the same data the same way.
"""

from __future__ import annotations

from automl.data.types import Split

__all__ = ["reference_split", "register_reference", "clear_references"]

_REFERENCES: dict[str, Split] = {}


def register_reference(fingerprint: str, split: Split) -> None:
    """Record ``split`` as the reference rows of the data set ``fingerprint`` names."""
    _REFERENCES[fingerprint] = split


def reference_split(fingerprint: str | None) -> Split | None:
    """The reference training rows of a data set loaded in this process, or ``None``.

    Args:
        fingerprint: ``DataSpec.fingerprint`` of any of the data set's splits or folds.
    """
    return _REFERENCES.get(fingerprint) if fingerprint else None


def clear_references() -> None:
    """Forget every reference split (``automl.data.clear_cache`` calls it)."""
    _REFERENCES.clear()
