"""The leaderboard on real Optuna trials: ranking, counts, other workers' trials, the summary."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from automl.core.records import TrialRecord
from automl.core.study_record import StudyHeader
from automl.results.leaderboard import Leaderboard

HEADER = StudyHeader("s", model="m", data="d", metric="val_acc", n_trials=6)


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


def test_a_lost_trial_is_said_apart_in_the_summary_and_not_counted():
    study = _study()
    lost = study.ask()
    for key, value in TrialRecord(error="terminated (SIGTERM)", failure="signal").attrs().items():
        lost.set_user_attr(key, value)
    study.tell(lost, state=TrialState.FAIL)
    board, out = _board(study.get_trials())
    assert board.finished() == 4 and board.lost() == 1
    board.console.print(board.summary({"x": 0.5}, {"val_acc": 0.9}, {}, "/r", 1))
    text = out.getvalue()
    assert "4 finished: 2 complete, 1 pruned, 1 failed; 1 lost and re-run" in text


def test_sync_takes_in_other_workers_finished_trials_and_plain_lines_count_them():
    study = _study()
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL))
    board, out = _board()
    board.sync(finished[1:])  # finished by "another worker"
    board.trial_finished(finished[0])  # this worker's own trial: one plain line
    (line,) = out.getvalue().strip().splitlines()
    assert line.startswith("[trial   0] COMPLETE val_acc=0.7")
    assert "done=4/6" in line and "best=0.9000(#1)" in line and "\x1b[" not in line


# --- running trials, ties, rendering, threads, files -------------------------------------------

CNN_SPACE = {
    "channels": optuna.distributions.CategoricalDistribution([16, 32, 64]),
    "depth": optuna.distributions.IntDistribution(1, 3),
    "kernel_size": optuna.distributions.CategoricalDistribution([3, 5]),
    "dropout": optuna.distributions.FloatDistribution(0.0, 0.5),
    "batch_norm": optuna.distributions.CategoricalDistribution([True, False]),
    "lr": optuna.distributions.FloatDistribution(1e-4, 3e-2, log=True),
    "weight_decay": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True),
    "batch_size": optuna.distributions.CategoricalDistribution([32, 64, 128]),
    "optimizer": optuna.distributions.CategoricalDistribution(["adam", "adamw", "sgd"]),
}
WIDE_HEADER = replace(HEADER, direction="maximize", n_trials=20, sampler="tpe")


def _record(trial, **fields) -> None:
    from automl.core.records import TrialRecord

    for key, value in TrialRecord(**fields).attrs().items():
        trial.set_user_attr(key, value)


def _cnn_study(notes: bool = True) -> optuna.Study:
    """Twelve finished trials of the CNN's real space (ties, pruned, failed) and a running one."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    for i in range(12):
        trial = study.ask(CNN_SPACE)
        for step in range(3):
            trial.report(0.5 + 0.01 * step, step)
        if notes and i in (3, 8):
            study.tell(trial, state=TrialState.PRUNED)
        elif notes and i == 7:
            _record(trial, error="RuntimeError: CUDA out of memory while allocating 3.2 GiB")
            study.tell(trial, state=TrialState.FAIL)
        else:
            _record(trial, epochs=20, duration_s=12.0 + i, metrics={"val_loss": 0.5 - 0.01 * i})
            study.tell(trial, 0.91 if i % 2 else 0.9)
    running = study.ask(CNN_SPACE)
    running.report(0.88, 0)
    running.report(0.93, 1)
    return study


def _render(board: Leaderboard, width: int) -> list[str]:
    console = Console(record=True, width=width, file=io.StringIO(), force_terminal=True)
    console.print(board)
    return console.export_text().splitlines()


def _trial_lines(lines: list[str]) -> dict[int, list[str]]:
    """Each table row's lines, keyed by trial number (the '#' column), from rendered text."""
    body = lines[lines.index(next(x for x in lines if x.startswith("rank"))) + 2 :]
    rows: dict[int, list[str]] = {}
    current = None
    for line in body:
        head = line[:9].split()
        if head and head[-1].isdigit():
            current = int(head[-1])
            rows[current] = [line]
        elif current is not None and line[:40].strip() == "":
            rows[current].append(line)
        else:
            current = None  # the caption
    return rows


@pytest.mark.parametrize("width", [80, 100, 160])
def test_table_fits_the_width_with_rows_of_at_most_two_lines_and_one_at_160(width):
    board = Leaderboard(Console(width=width), WIDE_HEADER, _cnn_study().get_trials())
    lines = _render(board, width)
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    rows = _trial_lines(lines)
    assert set(rows) == set(range(13))  # every trial shows, the running one too
    assert all(len(r) <= (1 if width >= 160 else 2) for r in rows.values()), rows
    text = "\n".join(lines)
    assert "note" in lines[next(i for i, x in enumerate(lines) if x.startswith("rank"))]
    if width >= 100:  # the note fits on the row's first line
        assert any("pruned at epoch 3" in r[0] for r in rows.values()), rows
    # short names, 3 significant digits, a legend for the short names
    assert "wd=" in text and "weight_decay=" not in text.split("wd=weight_decay")[0]
    assert "wd=weight_decay" in text
    if width == 160:  # wide enough for every parameter of most rows
        assert any("opt=" in " ".join(r) for r in rows.values())
    if width == 80:
        assert any("+" in r[-1].split()[-1] for r in rows.values())  # elided with a count


def _param_names(row: list[str]) -> list[str]:
    """The short names of a rendered row's parameters, in the order shown."""
    return [t.split("=")[0] for line in row for t in line.split() if "=" in t]


def test_parameters_keep_the_space_order_in_every_row_and_between_redraws():
    study = _cnn_study(notes=False)
    board = Leaderboard(Console(width=100), WIDE_HEADER, study.get_trials())
    space_order = ["ch", "depth", "ks", "drop", "bn", "lr", "wd", "bs", "opt"]
    before = _trial_lines(_render(board, 100))
    for row in before.values():
        names = _param_names(row)
        assert names == space_order[: len(names)], row  # a prefix: +N are the last ones
    # More trials (which change how much each parameter varies, the order of old) leave the
    # order as it was.
    for _ in range(3):
        study.tell(study.ask(CNN_SPACE), 0.5)
    board.sync(study.get_trials())
    after = _trial_lines(_render(board, 100))
    for number, row in before.items():
        assert _param_names(after[number]) == _param_names(row)
    trial0 = study.trials[0]
    assert f"drop={trial0.params['dropout']:.3g}" in " ".join(before[0])
    # At 100 columns without a note column every parameter fits, the optimizer too.
    assert all(_param_names(r) == space_order for r in after.values())


def test_note_column_takes_no_space_without_notes():
    board = Leaderboard(Console(width=100), WIDE_HEADER, _cnn_study(notes=False).get_trials())
    lines = _render(board, 100)
    header = next(x for x in lines if x.startswith("rank"))
    assert "note" not in header
    assert header.rstrip().endswith("params")


def test_running_trial_shows_params_epoch_latest_value_and_elapsed_time():
    study = _cnn_study()
    board = Leaderboard(Console(width=160), WIDE_HEADER, study.get_trials())
    row = board.rows[12]
    assert row.state == "RUNNING" and row.epochs == 2 and row.value == 0.93
    assert row.params == study.trials[12].params and row.elapsed() >= 0
    line = _trial_lines(_render(board, 160))[12][0]
    assert "RUNNING" in line and "0.9300" in line and "drop=" in line
    assert line.split()[3] == "2"  # epochs reached so far (# state value epochs: no rank)
    # the next sync sees it progress, then finish
    trial = study.trials[12]
    running = study.get_trials(states=(TrialState.RUNNING,))
    assert board.sync(running) == []
    _record(trial, epochs=3, metrics={"val_loss": 0.1})
    study.tell(trial.number, 0.95)
    (new,) = board.sync(study.get_trials())
    assert new.number == 12 and board.rows[12].state == "COMPLETE" and board.best().number == 12


def test_ties_are_broken_by_val_loss_then_by_trial_number():
    study = optuna.create_study(direction="maximize")
    for loss in (0.3, 0.1, None, 0.1):
        trial = study.ask()
        _record(trial, metrics={"val_acc": 0.9, **({"val_loss": loss} if loss else {})})
        study.tell(trial, 0.9)
    board = Leaderboard(Console(), replace(HEADER, direction="maximize"), study.get_trials())
    assert [r.number for r in board.ranked()] == [1, 3, 0, 2]
    assert [r.rank for r in board.ranked()] == [1, 2, 3, 4]


def test_a_frame_ranks_once(monkeypatch):
    import automl.results.leaderboard.board as lb  # where the board looks rank_rows up

    calls = []
    real = lb.rank_rows
    monkeypatch.setattr(lb, "rank_rows", lambda *a, **k: calls.append(1) or real(*a, **k))
    board = Leaderboard(Console(width=100), WIDE_HEADER, _cnn_study().get_trials())
    _render(board, 100)
    assert len(calls) == 1


def test_drawing_from_another_thread_while_rows_are_added_is_safe():
    """rich's refresh thread renders while the study's thread adds rows."""
    import sys
    import threading

    board = Leaderboard(Console(width=100, file=io.StringIO()), WIDE_HEADER, top_k=5)
    errors: list[BaseException] = []
    frames = []
    done = threading.Event()

    def draw() -> None:
        console = Console(width=100, file=io.StringIO(), force_terminal=True)
        while not done.is_set():
            try:
                console.print(board)
            except BaseException as exc:  # noqa: BLE001 - the failure under test
                errors.append(exc)
                return
            frames.append(1)

    thread = threading.Thread(target=draw)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a loaded machine does
    number = 0
    try:
        thread.start()
        # Add trials until the other thread has drawn 15 frames meanwhile (or it failed). A
        # time limit, not a count: on a loaded machine 20,000 trials once went by in 11 frames.
        deadline = time.monotonic() + 120
        while len(frames) < 15 and not errors and time.monotonic() < deadline:
            trial = optuna.trial.create_trial(
                params={"x": number / 40000},
                distributions={"x": CNN_SPACE["dropout"]},
                value=number / 20000,
            )
            trial.number = number
            board.sync([trial])
            number += 1
    finally:
        done.set()
        thread.join()
        sys.setswitchinterval(switch)
    assert not errors, errors
    assert len(frames) >= 15
    assert board.finished() == number and board.best().number == number - 1


def test_leaderboard_files_are_strict_json_and_written_atomically(tmp_path):
    import json

    from automl.results.leaderboard import rows_from_trials, write_leaderboard

    study = optuna.create_study(direction="minimize")
    trial = study.ask({"x": CNN_SPACE["dropout"]})
    _record(trial, metrics={"val_rmse": 1.0})
    trial.set_user_attr("metrics", {"val_rmse": 1.0, "val_r2": float("nan")})  # an old study
    study.tell(trial, 1.0)
    pruned = study.ask()
    pruned.report(float("inf"), 0)
    study.tell(pruned, state=TrialState.PRUNED)
    rows = rows_from_trials(study.get_trials(), "minimize", "val_rmse")
    write_leaderboard(rows, tmp_path, StudyHeader("s"))

    def strict(token):
        raise ValueError(f"not strict JSON: {token}")

    data = json.loads((tmp_path / "leaderboard.json").read_text(), parse_constant=strict)
    assert data["study"] == "s" and data["trials"][1]["value"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["leaderboard.csv", "leaderboard.json"]
    assert "inf" not in (tmp_path / "leaderboard.csv").read_text().lower()
