"""Public import path for a trial's stored record (docs/results-and-reports.md).

The code lives in ``automl.core.records``; this module re-exports every
name of its ``__all__``, so code written against the documented path keeps working.
Nothing inside automl imports it.
"""

from automl.core.records import *  # noqa: F403
from automl.core.records import __all__ as __all__
