"""Start-up and per-trial overhead of automl, in one table.

- ``python -m automl --help`` and ``python -m automl plugins``: wall time of a fresh process,
  median [min-max] over ``--runs`` runs (one unmeasured run first warms the file cache);
- per-trial overhead: ``benchmarks/trial_overhead.py`` (one automl trial vs a plain PyTorch loop
  training the same CNN for ``--epochs`` epochs), run as a subprocess; its ratio is reported.

    python benchmarks/startup.py --runs 5 --epochs 20 --repeats 3 \\
        --json benchmarks/results/startup.json

``--before DIR`` measures an earlier checkout beside this one in the same run: ``DIR`` holds
that commit's tree and a ``.venv`` whose ``automl`` is that tree (e.g. ``git worktree add DIR
COMMIT`` and a venv that sees this one's site-packages through a ``.pth`` file, as
``scripts/setup-lowest`` makes one, plus ``pip install --no-deps -e DIR``). The CLI runs
alternate between the two (the order swapping each run), each side's own
``trial_overhead.py`` runs twice, alternating, and the table gains the after/before ratios:
what a change did to start-up and per-trial overhead, at one load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

COMMANDS = {"--help": ["--help"], "plugins": ["plugins"]}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="timed runs of each CLI command")
    p.add_argument("--epochs", type=int, default=20, help="epochs of trial_overhead.py")
    p.add_argument("--repeats", type=int, default=3, help="repeats of trial_overhead.py")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of trial_overhead.py (0 = torch's default; 1 as in the CNN "
        "comparisons, since two threads on a shared 2-core machine swing tenfold with load)",
    )
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--skip-trial", action="store_true", help="only time the CLI commands")
    p.add_argument(
        "--before",
        type=Path,
        default=None,
        help="an earlier checkout with its own .venv, measured beside this one (see above)",
    )
    args = p.parse_args(argv)
    if args.runs < 1 or args.epochs < 1 or args.repeats < 1:
        p.error("--runs, --epochs and --repeats must be at least 1")
    return args


def _stats(command: str, timed: list[Any]) -> dict[str, Any]:
    return {
        "command": command,
        **c.summary([t.wall_s for t in timed]),
        "walls": [t.wall_s for t in timed],
        "load_start": list(timed[0].load_start),
        "load_end": list(timed[-1].load_end),
    }


def time_cli(args: list[str], runs: int) -> dict[str, Any]:
    """Wall seconds of ``python -m automl ARGS`` over ``runs`` fresh processes."""
    cmd = [sys.executable, "-m", "automl", *args]
    c.run_timed(cmd)  # warm the page cache; not measured
    timed = [c.run_timed(cmd) for _ in range(runs)]
    return _stats(" ".join(["python", "-m", "automl", *args]), timed)


def time_cli_pair(args: list[str], runs: int, before: Path) -> dict[str, dict[str, Any]]:
    """``time_cli`` for this checkout and ``before``'s, alternating (the order swaps each
    run), so both sides meet the same load."""
    sides = {
        "after": [sys.executable, "-m", "automl", *args],
        "before": [str(before / ".venv" / "bin" / "python"), "-m", "automl", *args],
    }
    cwd = {"after": None, "before": before}  # -m puts the cwd first: the tree it times
    timed: dict[str, list[Any]] = {"after": [], "before": []}
    for name, cmd in sides.items():
        c.run_timed(cmd, cwd=cwd[name])  # warm the page cache; not measured
    for i in range(runs):
        for name in ("before", "after") if i % 2 == 0 else ("after", "before"):
            timed[name].append(c.run_timed(sides[name], cwd=cwd[name]))
    text = " ".join(["python", "-m", "automl", *args])
    return {name: _stats(text, timed[name]) for name in ("before", "after")}


def trial_overhead(python: str, tree: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One run of ``tree``'s ``benchmarks/trial_overhead.py`` under ``python``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "overhead.json"
        cmd = [
            python,
            str(tree / "benchmarks" / "trial_overhead.py"),
            "--epochs",
            str(args.epochs),
            "--repeats",
            str(args.repeats),
            "--skip-defaults",
            "--threads",
            str(args.threads),
            "--json",
            str(out),
        ]
        load_start = os.getloadavg()
        c.run_timed(cmd, cwd=tree)
        trial = json.loads(out.read_text())
        trial["load_start"], trial["load_end"] = list(load_start), list(os.getloadavg())
        return trial


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """``--before``: this checkout against an earlier one, in one run."""
    assert args.before is not None
    before = args.before.resolve()
    py_before = str(before / ".venv" / "bin" / "python")
    cli = {name: time_cli_pair(a, args.runs, before) for name, a in COMMANDS.items()}
    rows = []
    for pair in cli.values():
        b, a = pair["before"], pair["after"]
        rows.append(
            [
                f"`{a['command']}` wall s",
                c.fmt(b, 2),
                c.fmt(a, 2),
                f"{a['median'] / b['median']:.2f}",
            ]
        )
    trials: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    if not args.skip_trial:
        for i in range(2):
            order = ("before", "after") if i % 2 == 0 else ("after", "before")
            for name in order:
                python, tree = (
                    (py_before, before) if name == "before" else (sys.executable, c.HERE.parent)
                )
                trials[name].append(trial_overhead(python, tree, args))
        ratio = {
            name: sorted(t["ratio_vs_plain"]["automl"] for t in runs)
            for name, runs in trials.items()
        }
        mid = {name: sum(r) / len(r) for name, r in ratio.items()}
        rows.append(
            [
                f"one trial ({args.epochs} epochs): automl / plain loop",
                " / ".join(f"{r:.2f}" for r in ratio["before"]),
                " / ".join(f"{r:.2f}" for r in ratio["after"]),
                f"{mid['after'] / mid['before']:.2f}",
            ]
        )
    text = c.print_table(
        f"Start-up and per-trial overhead, {before.name} (before) and this checkout (after), "
        f"alternating ({args.runs} CLI runs each; trial overhead: 2 runs of {args.repeats} "
        "repeats each; median [min-max])",
        ["what", "before", "after", "after / before"],
        rows,
    )
    return {"cli": cli, "trial_overhead": trials, "table_markdown": text}


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.before is not None:
        result = {
            "benchmark": "startup-before-after",
            "settings": {**vars(args), "before": str(args.before), "json": str(args.json)},
            "machine": c.machine_info(),
            **compare(args),
        }
        c.write_json(args.json, result)
        return result
    cli = {name: time_cli(a, args.runs) for name, a in COMMANDS.items()}
    trial = None
    if not args.skip_trial:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "overhead.json"
            cmd = [
                sys.executable,
                str(c.HERE / "trial_overhead.py"),
                "--epochs",
                str(args.epochs),
                "--repeats",
                str(args.repeats),
                "--skip-defaults",
                "--threads",
                str(args.threads),
                "--json",
                str(out),
            ]
            load_start = os.getloadavg()
            c.run_timed(cmd)
            trial = json.loads(out.read_text())
            trial["load_start"], trial["load_end"] = list(load_start), list(os.getloadavg())
    rows = [[f"`{v['command']}`", "wall s (fresh process)", c.fmt(v, 2)] for v in cli.values()]
    if trial is not None:
        for k in ("plain", "automl"):
            stat = {
                "median": trial["median_s"][k],
                "min": trial["min_s"][k],
                "max": trial["max_s"][k],
                "n": trial["repeats"],
            }
            rows.append([f"one trial, {trial['epochs']} epochs: {k}", "wall s", c.fmt(stat, 2)])
        rows.append(
            [
                "per-trial overhead",
                "automl / plain loop (medians)",
                f"{trial['ratio_vs_plain']['automl']:.2f}",
            ]
        )
    text = c.print_table(
        f"Start-up and per-trial overhead ({args.runs} runs; trial: {args.repeats} repeats, "
        f"{trial['threads'] if trial else '-'} torch threads) "
        "(median [min-max])",
        ["what", "measure", "value"],
        rows,
    )
    result = {
        "benchmark": "startup",
        "settings": {
            "runs": args.runs,
            "epochs": args.epochs,
            "repeats": args.repeats,
            "threads": args.threads,
        },
        "versions": c.local_versions(
            ["automl", "torch", "pytorch-lightning", "optuna", "hydra-core", "rich"]
        ),
        "machine": c.machine_info(),
        "cli": cli,
        "trial_overhead": trial,
        "table_markdown": text,
    }
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
