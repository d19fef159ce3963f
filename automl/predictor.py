"""Loading an exported model (``best/``, or ``single/`` of ``sweep=none``) for prediction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from automl import train
from automl.data.preprocess import apply_preprocessing

__all__ = ["Predictor", "load_best"]


@dataclass
class Predictor:
    """A loaded best model: raw inputs in, predictions out (preprocessing applied)."""

    model: Any
    kind: str
    task: str
    preprocessing: dict[str, Any]
    config: Any

    def predict(self, x: Any) -> np.ndarray:
        """Class ids or regression values for raw (unpreprocessed) inputs.

        Args:
            x: Inputs as the data source holds them: an array; for CSV data, rows of cells
                (sequences in the training column order, or ``{column: value}`` mappings, e.g.
                from ``automl.data.table.read_rows``); for image folders, image file paths.
        """
        x = apply_preprocessing(x, self.preprocessing)
        if self.kind == "lightning":
            return self.model.predict_array(x)
        return np.asarray(self.model.predict(x))

    @property
    def classes(self) -> list[str] | None:
        """Labels of the class ids, as the source named them (``None`` if unknown)."""
        return self.preprocessing.get("classes")

    def predict_labels(self, x: Any) -> list[str]:
        """Like ``predict`` for classification, but returns the source's labels."""
        ids = self.predict(x)
        names = self.classes or [str(i) for i in range(int(ids.max(initial=0)) + 1)]
        return [names[int(i)] for i in ids]


def load_best(directory: str | Path, models: Any = None) -> Predictor:
    """Load ``<run dir>/best`` (or a copy of it) for prediction.

    Args:
        directory: The ``best`` directory.
        models: A model registry; discovered from entry points when omitted.
    """
    from automl.plugin import DataSpec
    from automl.registry import discover_models

    path = Path(directory)
    saved = OmegaConf.load(path / "config.yaml")
    registry = models or discover_models()
    plugin = registry.get(saved.model_name)
    spec_fields: Any = OmegaConf.to_container(saved.spec)
    spec = DataSpec.from_dict(spec_fields)
    node = OmegaConf.merge(OmegaConf.structured(plugin.config), saved.model)
    cfg = OmegaConf.to_object(node)
    model = train.load_model(plugin, path, cfg, spec)
    preprocessing = json.loads((path / "preprocessing.json").read_text())
    return Predictor(model, plugin.kind, spec.task, preprocessing, cfg)
