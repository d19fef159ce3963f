"""``python -m automl compare RUN_A RUN_B [...] [--study NAME ...] [--out DIR]``.

Opens each study read-only through ``automl.tuning.stored`` and hands them, as read, to
``automl.results.report.compare``, which writes one offline HTML page and its PNGs. Exits 0,
or 2 after a one-line error.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from automl.core.args import ArgumentParser

__all__ = ["main"]


def _parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="python -m automl compare",
        description="Compare studies in one offline HTML page and PNGs: optimization "
        "histories and best-so-far curves overlaid, best value, trials, time and best "
        "parameters side by side, and the config settings that differ.",
    )
    parser.add_argument(
        "targets",
        nargs="+",
        metavar="RUN_DIR_OR_STORAGE_URL",
        help="two or more run directories (runs/cnn-digits), SQLAlchemy URLs or journal files",
    )
    parser.add_argument(
        "--study",
        action="append",
        default=[],
        help="a study's name, once per target in order (only for storages with several)",
    )
    parser.add_argument("--out", default="compare", help="output directory (default: compare)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Compare stored studies; 0, or 2 after a one-line error."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from automl.core.errors import UserError

    if len(args.targets) < 2:
        print(
            "automl compare: error: name two or more studies to compare, e.g. "
            "python -m automl compare runs/cnn-digits runs/cnn-digits-2",
            file=sys.stderr,
        )
        return 2
    if len(args.study) > len(args.targets):
        print(
            f"automl compare: error: {len(args.study)} --study names for "
            f"{len(args.targets)} targets; give at most one per target, in order",
            file=sys.stderr,
        )
        return 2
    try:
        from automl.results.report.compare import compared_of, write_comparison
        from automl.tuning.stored import open_stored, run_config

        names = [*args.study, *[None] * (len(args.targets) - len(args.study))]
        studies = []
        for i, (target, name) in enumerate(zip(args.targets, names, strict=True)):
            stored = open_stored(target, name)
            letter = chr(ord("A") + i) if i < 26 else str(i)
            studies.append(compared_of(stored.snapshot(), run_config(stored.run_dir), letter))
        index = write_comparison(studies, args.out)
    except UserError as exc:
        print(f"automl compare: error: {exc}", file=sys.stderr)
        return 2
    pngs = sorted(p.name for p in index.parent.glob("compare_*.png"))
    print(f"comparison: {index}")
    print(f"figures: {', '.join(pngs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
