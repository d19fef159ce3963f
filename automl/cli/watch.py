"""``python -m automl watch RUN_DIR_OR_STORAGE_URL [--study NAME] [--interval S]``.

Draws the live leaderboard of a study that other processes (or machines) are running, from
its storage, refreshing as trials run and finish. Read-only: the storage is opened as
``automl.tuning.stored`` opens it (SQLite in read-only mode, no table creation); the drawing
is ``automl.results.watch``. Exits 0 once the study holds its total, 2 on a bad target, 130
on Ctrl-C. A watch started before the study's storage exists (the study's process is still
starting) waits for it, up to ``--wait`` seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from automl.core.args import ArgumentParser

if TYPE_CHECKING:
    from automl.tuning.stored import StoredStudy

__all__ = ["main"]


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


def _open_when_there(target: str, study: str | None, wait: float, interval: float) -> StoredStudy:
    """``open_stored``, retried while the storage or study does not exist yet (the study's
    process is starting), for up to ``wait`` seconds; then its error."""
    from sqlalchemy.exc import SQLAlchemyError

    from automl.core.errors import UserError
    from automl.tuning.stored import open_stored

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
        from automl.results.watch import watch

        stored = _open_when_there(args.target, args.study, max(args.wait, 0.0), args.interval)
        study = stored.load()
        first = stored.read(study)
        while first is None:  # a writer holds the SQLite file this moment: read again soon
            time.sleep(min(args.interval, 0.2))
            first = stored.read(study)
        console = Console()
        if not console.is_terminal:  # a log: one unwrapped line per trial
            console = Console(width=200)
        return watch(first, lambda: stored.read(study), args.interval, console)
    except UserError as exc:
        print(f"automl watch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
