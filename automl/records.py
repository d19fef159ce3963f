"""Public import path for a trial's stored record (docs/results-and-reports.md).

The code lives in ``automl.core.records``; this module only re-exports it, so code written against
the documented path keeps working. Nothing inside automl imports this module.
"""

from automl.core.records import (
    COUNTED_FAILURES,
    RETRIED_FAILURES,
    Failure,
    TrialRecord,
    Unit,
    counts_toward_total,
    finite_or_none,
    record_of,
)

__all__ = [
    "TrialRecord",
    "Unit",
    "Failure",
    "COUNTED_FAILURES",
    "RETRIED_FAILURES",
    "record_of",
    "finite_or_none",
    "counts_toward_total",
]
