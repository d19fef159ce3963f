"""The time budget of one command (``sweep.timeout``): from the process's start to its exit.

A budget of T seconds ends T seconds after the command's process started (read from the
kernel, so the interpreter's own start-up counts too). The end of a study, the export of
``best/`` and the report, needs time of its own; that time is reserved up front
(``reserve``), and trials must be done by ``trials_end`` = end - reserve:

- a running trial stops at its first report after its stop time and keeps its best step so
  far (``automl.tuning.objective``);
- a trial that has not reported by then is cut ``grace`` seconds later (an alarm);
- no trial starts once ``trials_end`` has passed.

The reserve comes from measurements: what the export and the report cost in CPU seconds
(``EXPORT_CPU_S``, ``REPORT_CPU_S``, measured on the project's 2-core machine, see
docs/benchmarks.md), times how many wall seconds a CPU second of this process has taken so far
(``contention``: about 1 on an idle machine, 2 beside one CPU hog on each core, 5 or more
on a machine shared with many jobs). A parent of several workers passes its ``trials_end``
to them (``TRIALS_END_ENV``), so the whole fleet shares one deadline.

This module imports nothing heavy: the parent, the workers and ``--help`` may read it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

__all__ = [
    "TimeBudget",
    "TRIALS_END_ENV",
    "EXPORT_CPU_S",
    "REPORT_CPU_S",
    "REPORT_SHARE_MAX",
    "process_start",
    "planned",
    "plan_budget",
    "contention",
    "startup_contention",
    "wall_to_monotonic",
]

TRIALS_END_ENV = "AUTOML_TRIALS_END"
"""A worker's environment: the wall-clock time (``time.time()``) its trials must be done by,
set by its parent so that every worker of one command shares the parent's budget."""

EXPORT_CPU_S = 3.0
"""CPU seconds of the end of a study without the report: the final read of the study, the
leaderboard files, the test of the chosen trial and ``best/`` (weights, schema, drift
reference, model card). Measured 0.9-2.4 s on the 2-core machine (docs/benchmarks.md);
rounded up."""

REPORT_CPU_S = 6.0
"""CPU seconds of ``report/`` (importing the plotting libraries, 7 figures as PNG and one HTML
page): 5.0-6.4 s measured on the 2-core machine (docs/benchmarks.md)."""

REPORT_SHARE_MAX = 0.15
"""The report is written within the budget only when its reserve is at most this share of the
budget; otherwise it is skipped (with a note: ``python -m automl report RUN_DIR`` draws it),
so a short budget goes to the search and the export."""

_CONTENTION_MAX = 8.0
_PLANNED: TimeBudget | None = None
_STARTUP: float | None = None


def planned() -> TimeBudget | None:
    """The budget of this command, as ``plan_budget`` last planned it (``None``: none)."""
    return _PLANNED


def plan_budget(seconds: float | None, *, report: bool) -> TimeBudget | None:
    """Plan this command's budget (``TimeBudget.plan``), or none without ``seconds``, and keep it
    for the end of the command (``planned``: the report is written or skipped by it)."""
    global _PLANNED
    _PLANNED = TimeBudget.plan(float(seconds), report=report) if seconds else None
    return _PLANNED


def _given_end() -> float | None:
    given = os.environ.get(TRIALS_END_ENV)
    try:
        return float(given) if given else None
    except ValueError:
        return None


def process_start() -> float:
    """Wall-clock time (``time.time()``) at which this process started.

    Read from ``/proc/self/stat`` (Linux: the interpreter's own start-up counts); elsewhere
    the time of the call.
    """
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = float(fields[19])  # field 22, "starttime", in clock ticks since boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()
    return time.time() - min(max(age, 0.0), 86400.0)


def contention(since: float | None = None) -> float:
    """Wall seconds this process took per CPU second it got since it started (>= 1).

    About 1 on an idle machine for the CPU-bound start-up (imports, data, preflight); about 2
    beside a CPU hog on each core; more on a machine shared with many jobs. Capped at 8.
    """
    start = process_start() if since is None else since
    wall = max(time.time() - start, 0.0)
    cpu = time.process_time()
    if cpu <= 0.05 or wall <= 0.0:
        return 1.0
    return min(max(wall / cpu, 1.0), _CONTENTION_MAX)


def startup_contention() -> float:
    """``contention`` measured once, the first time it is asked for (after start-up: the
    imports, the data and the preflight), and the same for the rest of the process."""
    global _STARTUP
    if _STARTUP is None:
        _STARTUP = contention()
    return _STARTUP


def wall_to_monotonic(wall: float) -> float:
    """A wall-clock time as a ``time.monotonic()`` time of this process."""
    return time.monotonic() + (wall - time.time())


@dataclass(frozen=True)
class TimeBudget:
    """The time budget of one command.

    Attributes:
        seconds: ``sweep.timeout``: the whole command, from its start to its exit.
        start: When the command's process started (wall clock).
        factor: ``contention`` during start-up: wall seconds per CPU second on this machine
            now, which scales the measured CPU cost of the end of the study.
        reserve: Seconds held back after the trials for the end of the study (the export of
            ``best/``, the report); 0 in a worker, whose parent does that.
        report: Whether ``report/`` is written within the budget (see ``REPORT_SHARE_MAX``).
        given_end: The trials' end set by a parent (``TRIALS_END_ENV``), if any.
    """

    seconds: float
    start: float
    factor: float = 1.0
    reserve: float = 0.0
    report: bool = True
    given_end: float | None = None

    @classmethod
    def plan(cls, seconds: float, *, report: bool) -> TimeBudget:
        """The budget of this process, planned once start-up is over (the data loaded, the
        preflight run), so that ``contention`` has measured the machine.

        A worker (``TRIALS_END_ENV`` set by its parent) reserves nothing: its trials end
        when the parent's do, and the parent does the export and the report.

        Args:
            seconds: ``sweep.timeout``.
            report: ``sweep.report``: the report is wanted.
        """
        start = process_start()
        factor = startup_contention()
        given = _given_end()
        if given is not None:
            budget = cls(seconds, start, factor, 0.0, False, given)
        else:
            report = report and REPORT_CPU_S * factor <= REPORT_SHARE_MAX * seconds
            budget = cls(seconds, start, factor, 0.0, report)
            reserve = budget.export_seconds + (budget.report_seconds if report else 0.0)
            budget = cls(seconds, start, factor, reserve, report)
        return budget

    @property
    def export_seconds(self) -> float:
        """Wall seconds the end of the study takes here (``EXPORT_CPU_S`` x ``factor``)."""
        return EXPORT_CPU_S * self.factor

    @property
    def report_seconds(self) -> float:
        """Wall seconds the report takes here (``REPORT_CPU_S`` x ``factor``)."""
        return REPORT_CPU_S * self.factor

    @property
    def end(self) -> float:
        """When the command must have exited (wall clock)."""
        return self.start + self.seconds

    @property
    def trials_end(self) -> float:
        """When every trial must be done (wall clock): the end less the reserve."""
        if self.given_end is not None:
            return self.given_end
        return self.end - self.reserve

    @property
    def tolerance(self) -> float:
        """How far past its end the command may exit: 10 %, at least 10 s."""
        return max(0.1 * self.seconds, 10.0)

    @property
    def grace(self) -> float:
        """Seconds past its stop time a trial that has not reported yet may run before it
        is cut: half the tolerance, so the export still ends within it."""
        return self.tolerance / 2

    def left(self, now: float | None = None) -> float:
        """Seconds until the end (negative past it)."""
        return self.end - (time.time() if now is None else now)

    def trial_time_left(self, now: float | None = None) -> float:
        """Seconds until ``trials_end`` (negative past it)."""
        return self.trials_end - (time.time() if now is None else now)
