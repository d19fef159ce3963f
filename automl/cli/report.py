"""``python -m automl report RUN_DIR_OR_STORAGE_URL [--study NAME] [--out DIR]``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from automl.core.args import ArgumentParser

__all__ = ["main"]


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m automl report",
        description="Write report/index.html (one page that opens offline) and a PNG of each "
        "figure for a stored study: optimization history, parameter importances, parallel "
        "coordinates, slices, learning curves, the Pareto front (several objectives) and the "
        "best model on the test split.",
    )
    parser.add_argument(
        "target",
        metavar="RUN_DIR_OR_STORAGE_URL",
        help="a run directory (runs/cnn-digits), an SQLAlchemy URL "
        "(sqlite:///runs/cnn-digits/study.db, postgresql://...) or a journal file",
    )
    parser.add_argument("--study", help="the study's name (when the storage holds several)")
    parser.add_argument("--out", help="output directory (default: <run dir>/report)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Write the report; return 0, or 2 after a one-line error (no storage, no such study)."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from automl.core.errors import UserError

    try:
        from automl.tuning.report import write_report
        from automl.tuning.stored import open_stored

        stored = open_stored(args.target, args.study)
        index = write_report(stored.storage, stored.name, stored.run_dir, args.out)
    except UserError as exc:
        print(f"automl report: error: {exc}", file=sys.stderr)
        return 2
    pngs = sorted(p.name for p in index.parent.glob("*.png"))
    print(f"report: {index}")
    print(f"figures: {', '.join(pngs) if pngs else 'none'}")
    return 0
