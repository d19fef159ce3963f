"""Public import path for loading best/ and predicting (docs/serving.md).

The code lives in ``automl.results.predictor``; this module only re-exports it, so code written
against
the documented path keeps working. Nothing inside automl imports this module.
"""

from automl.results.predictor import (
    Predictor,
    load_best,
)

__all__ = [
    "Predictor",
    "load_best",
]
