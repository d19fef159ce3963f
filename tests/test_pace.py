"""The study's pace (trials per hour, time left) on real Optuna trials with known times, as the
live header, the log lines, ``watch`` and the summary show it."""

from __future__ import annotations

import datetime as dt
import io
import time

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from automl.core.records import TrialRecord
from automl.core.study_record import StudyHeader
from automl.results.leaderboard import Leaderboard, row_from_trial
from automl.results.leaderboard.pace import busy_seconds, pace

T0 = 1_700_000_000.0  # a fixed wall-clock origin
DIST = {"x": optuna.distributions.FloatDistribution(0, 1)}


def _trial(number: int, start: float, end: float | None, value: float = 0.5, **record):
    """A trial that ran from ``start`` to ``end`` seconds after T0 (``None``: still running)."""
    state = TrialState.RUNNING if end is None else TrialState.COMPLETE
    attrs = TrialRecord(**record).attrs() if record else {}
    if record.get("failure"):
        state = TrialState.FAIL
    return FrozenTrial(
        number=number,
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        datetime_start=dt.datetime.fromtimestamp(T0 + start),
        datetime_complete=None if end is None else dt.datetime.fromtimestamp(T0 + end),
        params={"x": 0.5},
        distributions=DIST,
        user_attrs=attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def _rows(*trials):
    return [row_from_trial(t) for t in trials]


def test_busy_time_is_the_union_of_intervals():
    assert busy_seconds([(0, 10), (5, 15), (20, 30)]) == 25
    assert busy_seconds([(0, 10), (2, 3)]) == 10
    assert busy_seconds([]) == 0


def test_one_worker_rate_and_time_left_count_the_running_trials_work():
    rows = _rows(*(_trial(i, 10 * i, 10 * i + 10) for i in range(4)), _trial(4, 40, None))
    now = pace(rows, total=10, now=T0 + 44)
    assert now.per_hour == 360  # 4 trials in 40 s
    assert now.elapsed == 44 and now.done == 4 and now.remaining == 6
    # 6 trials of 10 s, 4 s of the running one done
    assert now.left == 56 and not now.by_budget
    assert now.rate_text() == "360 trials/h" and now.left_text() == "about 56.0s left"


def test_two_workers_go_twice_as_fast_and_a_resumed_studys_gap_is_not_work():
    pairs = [_trial(i, 10 * (i // 2), 10 * (i // 2) + 10) for i in range(4)]
    now = pace(_rows(*pairs), total=10, now=T0 + 20)
    assert now.per_hour == 720 and now.left == 30
    # The same four trials, the last two a day later (a rerun): the day is not elapsed time.
    later = [_trial(i, 10 * i + (86400 if i >= 2 else 0), 10 * i + 10 + (86400 if i >= 2 else 0))
             for i in range(4)]  # fmt: skip
    resumed = pace(_rows(*later), total=4, now=T0 + 86440)
    assert resumed.elapsed == 40 and resumed.per_hour == 360 and resumed.left == 0
    assert resumed.left_text() == "done"


def test_the_time_budget_caps_the_estimate_and_nothing_is_guessed_before_a_trial_ends():
    rows = _rows(*(_trial(i, 10 * i, 10 * i + 10) for i in range(2)))
    capped = pace(rows, total=100, now=T0 + 20, deadline=T0 + 50)
    assert capped.left == 30 and capped.by_budget
    assert capped.left_text() == "about 30.0s left (sweep.timeout)"
    early = pace(_rows(_trial(0, 0, None)), total=10, now=T0 + 5)
    assert early.per_hour is None and early.left is None and early.elapsed == 5
    assert early.rate_text() == "- trials/h"


def test_lost_trials_are_not_counted_and_the_header_says_them_apart():
    lost = _trial(2, 20, 21, failure="signal", error="interrupted (Ctrl-C)")
    rows = _rows(_trial(0, 0, 10), _trial(1, 10, 20), lost)
    assert [r.counts for r in rows] == [True, True, False]
    now = pace(rows, total=4, now=T0 + 21)
    assert now.done == 2 and now.remaining == 2
    study = optuna.create_study(direction="maximize")
    for trial in (_trial(0, 0, 10), _trial(1, 10, 20), lost):
        study.add_trial(trial)
    header = StudyHeader("s", model="m", data="d", metric="val_acc", n_trials=4)
    out = io.StringIO()
    board = Leaderboard(Console(file=out, width=120, force_terminal=True), header, study.trials)
    board.console.print(board)
    title = out.getvalue()
    # The header and the summary agree: the lost trial is not a failure that counts.
    assert "failed 0" in title and "lost 1 (re-run)" in title
    assert "trials/h" in title and "left" in title and "elapsed" in title
    board.console.print(board.summary({"x": 0.5}, {"val_acc": 0.5}, {}, "/r", 0))
    summary = out.getvalue().split("automl summary")[1]
    assert "0 failed; 1 lost and re-run" in summary
    assert "2 trials to go: about" in summary and "at this pace" in summary


def test_log_lines_and_the_summary_say_the_pace_and_use_the_singular():
    header = StudyHeader("s", model="m", data="d", metric="val_acc", n_trials=5)
    out = io.StringIO()
    board = Leaderboard(Console(file=out, width=200, force_terminal=False), header)
    start = time.time()
    board.trial_finished(_trial(0, start - T0 - 10, start - T0))
    (line,) = out.getvalue().splitlines()
    assert "done=1/5 eta=40.0s best=" in line  # 4 more trials of 10 s
    board.console.print(board.summary({"x": 0.5}, {"val_acc": 0.5}, {}, "/r", 0))
    text = out.getvalue()
    assert "1 finished: 1 complete" in text and "4 trials to go" in text
    assert "1 trials" not in text
