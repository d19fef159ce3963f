"""Public import path for loading best/ and predicting (docs/serving.md).

The code lives in ``automl.results.predictor``; this module re-exports every
name of its ``__all__``, so code written against the documented path keeps working.
Nothing inside automl imports it.
"""

from automl.results.predictor import *  # noqa: F403
from automl.results.predictor import __all__ as __all__
