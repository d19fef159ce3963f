"""The leaderboard on real Optuna trials: ranking, counts, other workers' trials, the summary."""

from __future__ import annotations

import io

import optuna
from optuna.trial import TrialState
from rich.console import Console

from automl.leaderboard import Leaderboard

HEADER = {"study": "s", "model": "m", "data": "d", "metric": "val_acc", "n_trials": 6}


def _study() -> optuna.Study:
    """Four finished trials (two complete, one pruned, one failed) and one still running."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize")
    for value in (0.7, 0.9):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, value)
    pruned = study.ask()
    pruned.report(0.5, 0)
    study.tell(pruned, state=TrialState.PRUNED)
    failed = study.ask()
    failed.set_user_attr("error", "ValueError: boom")
    study.tell(failed, state=TrialState.FAIL)
    study.ask()  # RUNNING, as another worker's trial would be
    return study


def _board(trials=()) -> tuple[Leaderboard, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    return Leaderboard(console, HEADER, trials), out


def test_rows_rank_complete_trials_best_first_and_keep_reasons():
    board, _ = _board(_study().get_trials())
    ranked = board.ranked()
    assert [(r.number, r.rank) for r in ranked[:2]] == [(1, 1), (0, 2)]
    failed = next(r for r in ranked if r.state == "FAIL")
    assert failed.note == "ValueError: boom"
    assert next(r for r in ranked if r.state == "PRUNED").note == "pruned after epoch 1"


def test_a_running_trial_is_not_counted_as_finished_and_the_summary_says_so():
    board, out = _board(_study().get_trials())
    assert board.finished() == 4 and board.counts()["RUNNING"] == 1
    board.console.print(board.summary({"x": 0.5}, {"val_acc": 0.9}, {}, "/r", 1))
    text = out.getvalue()
    assert "4 finished: 2 complete, 1 pruned, 1 failed; 1 still running" in text


def test_sync_takes_in_other_workers_finished_trials_and_plain_lines_count_them():
    study = _study()
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    board, out = _board()
    board.sync(finished[1:])  # finished by "another worker"
    board.trial_finished(finished[0])  # this worker's own trial: one plain line
    (line,) = out.getvalue().strip().splitlines()
    assert line.startswith("[trial   0] COMPLETE val_acc=0.7")
    assert "done=4/6" in line and "best=0.9000(#1)" in line and "\x1b[" not in line
