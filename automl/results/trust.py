"""When a study's winner cannot be trusted: one line per reason, for the summary and the report.

- **Ties at the top**: how many complete trials share the best value, and what chose among
  them (the next validation metric, or only the trial number).
- **A validation split too small to separate the top trials**: fewer than
  ``SMALL_VALIDATION`` rows, or top trials within one validation row of each other (for
  metrics that count rows: accuracy, F1, precision, recall, error).
- **Parameter importance from too few trials**: fANOVA on fewer than ``IMPORTANCE_TRIALS``
  complete trials is a rough guide at best.

Pure functions of the leaderboard's rows (``automl.results.leaderboard``); no Optuna.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from automl.results.leaderboard.rows import Row, metric_direction, tiebreak_metric
from automl.results.leaderboard.text import fmt_metric

__all__ = ["trust_warnings", "importance_warning", "SMALL_VALIDATION", "IMPORTANCE_TRIALS"]

SMALL_VALIDATION = 200
"""Validation rows below which the top trials' differences are mostly noise."""

IMPORTANCE_TRIALS = 20
"""Complete trials below which parameter importances are not reliable."""

# Metrics that count validation rows (one row moves them by about 1/n).
_PER_ROW = ("acc", "accuracy", "f1", "precision", "recall", "error", "err", "balanced_acc")


def _per_row(metric: str) -> bool:
    name = metric.removeprefix("val_")
    return name in _PER_ROW or name.split("_")[0] in _PER_ROW


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _numbers(rows: Sequence[Row], limit: int = 8) -> str:
    shown = " ".join(f"#{r.number}" for r in rows[:limit])
    return shown + (" …" if len(rows) > limit else "")


def _tie_line(top: list[Row], metric: str) -> str | None:
    """``6 trials share the best val_acc 1.0000 (#3 #5 …); #3 was chosen by its lower val_loss``."""
    best = top[0]
    assert best.value is not None
    tied = [r for r in top if r.value is not None and _same(r.value, best.value)]
    if len(tied) < 2:
        return None
    head = f"{len(tied)} trials share the best {metric} {fmt_metric(best.value)} ({_numbers(tied)})"
    second = tiebreak_metric(metric, (k for r in tied for k in r.metrics))
    mine = best.metrics.get(second) if second else None
    other = tied[1].metrics.get(second) if second else None
    if second and mine is not None and other is not None and not _same(mine, other):
        word = "lower" if metric_direction(second) == "minimize" else "higher"
        return f"{head}; #{best.number} was chosen by its {word} {second} ({mine:.4g})"
    return f"{head}; nothing else tells them apart: #{best.number} was chosen by trial number"


def _validation_line(top: list[Row], metric: str, n_val: int | None) -> str | None:
    """A split too small to separate the top trials, or top trials within one row."""
    if not n_val or n_val <= 0:
        return None
    best = top[0]
    assert best.value is not None
    step = 1.0 / n_val
    close = []
    if _per_row(metric):
        close = [
            r for r in top if r.value is not None and abs(r.value - best.value) <= step + 1e-12
        ]
    if n_val < SMALL_VALIDATION:
        text = f"the validation split has only {n_val} rows"
        if _per_row(metric):
            text += f" (one row moves {metric} by {step:.3g})"
            if len(close) > 1:
                text += f"; the top {len(close)} trials are within one row of each other"
        return text + ": differences this small are noise; use more data or data.folds=5"
    if len(close) > 1 and any(not _same(r.value or 0.0, best.value) for r in close):
        return (
            f"the top {len(close)} trials ({_numbers(close)}) are within one validation row "
            f"({step:.3g} of {metric}, {n_val} rows) of each other: the split cannot rank them"
        )
    return None


def importance_warning(n_complete: int, n_params: int) -> str | None:
    """The line on parameter importance from too few complete trials (``None`` when enough,
    or when there is nothing to estimate)."""
    if n_params == 0 or n_complete < 2 or n_complete >= IMPORTANCE_TRIALS:
        return None
    return (
        f"parameter importance rests on {n_complete} complete trials (fewer than "
        f"{IMPORTANCE_TRIALS}): a rough guide only; tools that estimate it differently "
        "(optuna-dashboard) may disagree"
    )


def trust_warnings(
    ranked: Sequence[Row], metric: str, n_val: int | None, *, multi: bool = False
) -> list[str]:
    """Why the study's winner may not be the best configuration, one line per reason.

    Args:
        ranked: The leaderboard's rows, ranked (``rank_rows``: rank 1 first).
        metric: The objective's metric (``val_acc``).
        n_val: Validation rows each trial was judged on (all folds' together), if known.
        multi: Several objectives (no single winner: only the importance line applies).
    """
    complete = [r for r in ranked if r.state == "COMPLETE"]
    n_params = len({k for r in complete for k in r.params if k != "family"})
    lines: list[str | None] = []
    top = [r for r in ranked if r.rank is not None and r.value is not None]
    if top and not multi:
        lines.append(_tie_line(top, metric))
        lines.append(_validation_line(top, metric, n_val))
    lines.append(importance_warning(len(complete), n_params))
    return [line for line in lines if line]
