"""``python -m automl watch RUN_DIR_OR_STORAGE_URL [--study NAME] [--interval S]``.

Draws the live leaderboard of a study that other processes (or machines) are running, from
its storage, refreshing as trials run and finish. Read-only: the storage is opened as
``automl.results.stored`` opens it (SQLite in read-only mode, no table creation). Exits 0 once the
study holds its total (the study attribute ``n_trials``, else ``sweep.n_trials`` of the run's
saved config), 130 on Ctrl-C. Without a terminal it prints one line per newly finished trial.

A watch started before the study's storage exists (the study's process is still starting)
waits for it, up to ``--wait`` seconds. The elapsed time, trials per hour and time left it
shows are the study's own, read from its trials (``automl.results.leaderboard.pace``), so it
says what the study's own header says.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from automl.core.args import ArgumentParser

__all__ = ["main", "watch_header"]

_STEPS = {"epoch": "epochs", "step": "steps", "fold": "folds"}


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m automl watch",
        description="Show the live leaderboard of a study that other processes are running "
        "(read-only); exit when it holds its total number of trials, or on Ctrl-C.",
    )
    parser.add_argument(
        "target",
        metavar="RUN_DIR_OR_STORAGE_URL",
        help="a run directory (runs/cnn-digits), an SQLAlchemy URL or a journal file",
    )
    parser.add_argument("--study", help="the study's name (when the storage holds several)")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between reads (default 2)"
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=120.0,
        help="seconds to wait for the study's storage to appear (default 120)",
    )
    return parser


def _total(study: Any, config: dict[str, Any]) -> int | None:
    value = study.user_attrs.get("n_trials")
    if value is None:
        sweep = config.get("sweep") if isinstance(config.get("sweep"), dict) else {}
        value = sweep.get("n_trials")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _search(attrs: Any) -> dict[str, Any]:
    """Objectives and constraints the study recorded (``sweep.objectives``), if readable."""
    from automl.core.objectives import ObjectiveError, parse_constraints, parse_objectives

    try:
        specs = parse_objectives(attrs.get("objectives") or [])
        constraints = parse_constraints(attrs.get("constraints") or [])
    except (ObjectiveError, TypeError):  # written by hand or another tool: not trusted
        return {}
    objectives = [{"key": s.key, "direction": s.direction} for s in specs if s.direction]
    return {"objectives": objectives, "constraints": [str(c) for c in constraints]}


def watch_header(study: Any, stored: Any, trials: Sequence[Any]) -> dict[str, Any]:
    """The leaderboard header of a stored study: its user attributes, else the run's config."""
    from automl.core.records import record_of
    from automl.results.stored import run_config

    attrs = study.user_attrs
    config = run_config(stored.run_dir)
    sweep = config.get("sweep") if isinstance(config.get("sweep"), dict) else {}
    metric = attrs.get("metric")
    names = list(getattr(study, "metric_names", None) or [])
    if not isinstance(metric, str) or not metric:
        metric = names[0] if names else "value"
    elif not metric.startswith("val_"):
        metric = f"val_{metric}"
    direction = attrs.get("direction")
    if direction not in ("maximize", "minimize"):
        direction = study.directions[0].name.lower()
    units = {record_of(t).unit for t in trials} - {None}
    return {
        **_search(attrs),
        "study": stored.name,
        "model": attrs.get("model", "?"),
        "data": attrs.get("data", "?"),
        "sampler": sweep.get("sampler"),
        "pruner": sweep.get("pruner"),
        "metric": metric,
        "direction": direction,
        "steps": _STEPS.get(units.pop(), "epochs") if len(units) == 1 else "epochs",
        "n_trials": _total(study, config) or "?",
        **({"deadline": attrs["deadline"]} if isinstance(attrs.get("deadline"), float) else {}),
    }


def _read(study: Any) -> list[Any] | None:
    """All trials, or ``None`` when the storage is busy this time (a writer holds SQLite)."""
    from sqlalchemy.exc import OperationalError

    try:
        return study.get_trials(deepcopy=False)
    except OperationalError:
        return None


def _run(stored: Any, interval: float, console: Any) -> int:
    from rich.live import Live

    from automl.results.leaderboard import Leaderboard
    from automl.results.leaderboard.pace import deadline_of, pace, total_of
    from automl.results.leaderboard.text import fmt_seconds
    from automl.results.stored import run_config

    study = stored.load()
    trials = _read(study) or []
    header = watch_header(study, stored, trials)
    board = Leaderboard(console, header, trials)
    config = run_config(stored.run_dir)
    plain = not console.is_terminal
    if plain:
        rows = board.snapshot()
        running = sum(1 for r in rows if r.state == "RUNNING")
        best = board.best()
        now = pace(rows, total_of(header), deadline=deadline_of(header))
        console.print(
            f"watching study {stored.name} ({stored.where}): {board.finished()}/"
            f"{header['n_trials']} finished, {running} running, best "
            + (f"{header['metric']}={best.value:.4f} (#{best.number})" if best else "-")
            + f"; elapsed {fmt_seconds(now.elapsed)}, {now.rate_text()}, {now.left_text()}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def done() -> bool:
        total = _total(study, config)
        return total is not None and board.finished() >= total

    live = Live(board, console=console, refresh_per_second=4) if not plain else None
    if live is not None:
        live.start()
    try:
        while not done():
            time.sleep(interval)  # polling a storage another process writes: nothing to wait on
            trials = _read(study)
            if trials is None:
                continue
            total = _total(study, config)
            if total is not None:
                board.header["n_trials"] = total
            deadline = study.user_attrs.get("deadline")
            if isinstance(deadline, float):
                board.header["deadline"] = deadline
            for row in sorted(board.sync(trials), key=lambda r: r.number):
                if plain:
                    console.print(
                        board.plain_line(row), markup=False, highlight=False, soft_wrap=True
                    )
    finally:
        if live is not None:
            live.stop()
    if plain:
        from automl.results.leaderboard.text import trials as trials_text

        console.print(
            f"study {stored.name} holds its {trials_text(board.finished())}",
            markup=False,
            highlight=False,
        )
    return 0


def _open_when_there(target: str, study: str | None, wait: float, interval: float) -> Any:
    """``open_stored``, retried while the storage or study does not exist yet (the study's
    process is starting), for up to ``wait`` seconds; then its error."""
    from sqlalchemy.exc import SQLAlchemyError

    from automl.core.errors import UserError
    from automl.results.stored import open_stored

    deadline = time.monotonic() + wait
    said = False
    while True:
        try:
            return open_stored(target, study)
        except (UserError, SQLAlchemyError) as exc:
            if time.monotonic() >= deadline:
                if isinstance(exc, UserError):
                    raise
                raise UserError(f"{target}: the study storage cannot be read ({exc})") from exc
            if not said:
                print(
                    f"automl watch: waiting up to {wait:g} s for a study at {target} "
                    f"({str(exc).splitlines()[0]})",
                    file=sys.stderr,
                    flush=True,
                )
                said = True
            # Nothing to wait on but the file system another process writes: poll.
            time.sleep(min(interval, 0.5))


def main(argv: Sequence[str] | None = None) -> int:
    """Watch a stored study; 0 when it holds its total, 2 on a bad target, 130 on Ctrl-C."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from rich.console import Console

    from automl.core.errors import UserError

    if args.interval <= 0:
        print(
            "automl watch: error: --interval must be > 0 seconds, e.g. --interval 2",
            file=sys.stderr,
        )
        return 2
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        stored = _open_when_there(args.target, args.study, max(args.wait, 0.0), args.interval)
        console = Console()
        if not console.is_terminal:  # a log: one unwrapped line per trial
            console = Console(width=200)
        return _run(stored, args.interval, console)
    except UserError as exc:
        print(f"automl watch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
