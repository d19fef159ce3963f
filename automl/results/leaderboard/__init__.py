"""The leaderboard: a live ``rich`` table while a study runs, plain lines in logs, a summary,
and ``leaderboard.csv``/``.json`` exports.

It reads trials (Optuna ``FrozenTrial`` objects, duck-typed; what automl stores beside Optuna
through ``automl.core.records.record_of``) and imports no training code and no Optuna.

Its parts: ``rows`` (a trial as a ``Row``, and the ranking), ``text`` (how values and
parameters are written), ``board`` (the ``Leaderboard`` and its thread-safe rows), ``table``
(the live view), ``summary`` (log lines and the end-of-study summary) and ``files`` (the
exports).
"""

from automl.results.leaderboard.board import Leaderboard
from automl.results.leaderboard.files import write_leaderboard
from automl.results.leaderboard.rows import (
    Row,
    metric_direction,
    rank_fronts,
    rank_rows,
    row_from_trial,
    rows_from_trials,
    tiebreak_metric,
)
from automl.results.leaderboard.table import WIDE
from automl.results.leaderboard.text import compact_params, format_params, param_order, short_names

__all__ = [
    "Row",
    "Leaderboard",
    "row_from_trial",
    "rows_from_trials",
    "rank_rows",
    "rank_fronts",
    "tiebreak_metric",
    "metric_direction",
    "write_leaderboard",
    "format_params",
    "compact_params",
    "short_names",
    "param_order",
    "WIDE",
]
