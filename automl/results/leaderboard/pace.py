"""How fast a study goes and how long it has left: trials per hour and an estimate of the time
to its total (``sweep.n_trials``), capped by its time budget (``sweep.timeout``).

Read from the trials alone (their start and end times), so the live header, ``watch`` on
another machine and the summary say the same thing, and a resumed study's gaps between
invocations are not counted as work:

- the study's *elapsed* time is the union of its trials' run intervals (a running one up to
  now);
- its *rate* is the finished trials that count per second of the union of the finished
  trials' intervals (several workers overlap, so the rate is the fleet's);
- the time *left* is the remaining trials at that rate, less the work the running trials have
  already done (each at most the mean finished duration), shared by the running workers.

``benchmarks/eta.py`` replays recorded studies to measure how far this lands from the time
that was actually left (docs/benchmarks.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from automl.results.leaderboard.rows import Row
from automl.results.leaderboard.text import fmt_seconds

__all__ = ["Pace", "pace", "busy_seconds"]


def busy_seconds(intervals: Iterable[tuple[float, float]]) -> float:
    """Seconds covered by the union of ``(start, end)`` intervals."""
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if end <= start:
            continue
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


@dataclass(frozen=True)
class Pace:
    """A study's pace at one moment.

    Attributes:
        elapsed: Seconds the study has spent running trials (every invocation).
        done: Finished trials that count toward the total.
        total: The total (``sweep.n_trials``), or ``None`` when unknown.
        per_hour: Trials per hour, or ``None`` before the first finished trial.
        left: Estimated seconds to the total, or ``None`` when it cannot be estimated yet.
        by_budget: ``left`` is the time budget's rest (``sweep.timeout``), which ends first.
    """

    elapsed: float
    done: int
    total: int | None
    per_hour: float | None
    left: float | None
    by_budget: bool = False

    @property
    def remaining(self) -> int | None:
        """Trials still to finish (``None`` when the total is unknown)."""
        return None if self.total is None else max(self.total - self.done, 0)

    def rate_text(self) -> str:
        """``52 trials/h`` (``- trials/h`` before the first finished trial)."""
        if self.per_hour is None:
            return "- trials/h"
        rate = self.per_hour
        return f"{rate:.0f} trials/h" if rate >= 10 else f"{rate:.2g} trials/h"

    def left_text(self) -> str:
        """``about 4m10s left``, ``about 40s left (sweep.timeout)``, or why it is unknown."""
        if self.remaining == 0:
            return "done"
        if self.left is None:
            return "time left: after the first trial"
        return f"about {fmt_seconds(self.left)} left" + (
            " (sweep.timeout)" if self.by_budget else ""
        )


def pace(
    rows: Sequence[Row],
    total: int | None,
    now: float | None = None,
    deadline: float | None = None,
) -> Pace:
    """The pace of a study from its rows.

    Args:
        rows: Every trial's row (``started``/``ended`` wall-clock times, ``counts``).
        total: The study's total number of trials, if known.
        now: The wall-clock time (``time.time()`` by default).
        deadline: Wall-clock time at which the study stops starting trials
            (``sweep.timeout``), if it has one.
    """
    now = time.time() if now is None else now
    finished = [r for r in rows if r.finished and r.started is not None]
    running = [r for r in rows if r.state == "RUNNING" and r.started is not None]
    spans = [(r.started, _end(r)) for r in finished]
    elapsed = busy_seconds(
        [(s, e) for s, e in spans if s is not None and e is not None]
        + [(r.started, now) for r in running if r.started is not None]
    )
    done = sum(1 for r in rows if r.counts)
    worked = busy_seconds([(s, e) for s, e in spans if s is not None and e is not None])
    counted = [r for r in finished if r.counts]
    if not counted or worked <= 0:
        return Pace(elapsed, done, total, None, _budget(deadline, now), deadline is not None)
    per_second = len(counted) / worked
    left: float | None = None
    by_budget = False
    if total is not None:
        remaining = max(total - done, 0)
        mean = sum((_end(r) or 0.0) - (r.started or 0.0) for r in counted) / len(counted)
        started_work = sum(min(now - (r.started or now), mean) for r in running)
        left = max(remaining / per_second - started_work / max(len(running), 1), 0.0)
        if remaining == 0:
            left = 0.0
    budget = _budget(deadline, now)
    if budget is not None and (left is None or budget < left):
        left, by_budget = budget, True
    return Pace(elapsed, done, total, 3600.0 * per_second, left, by_budget)


def _end(row: Row) -> float | None:
    """When a finished row ended: its end time, else its start plus its duration."""
    if row.ended is not None:
        return row.ended
    if row.started is not None and row.duration is not None:
        return row.started + row.duration
    return None


def _budget(deadline: float | None, now: float) -> float | None:
    return None if deadline is None else max(deadline - now, 0.0)
