"""``sweep.workers=2`` against one process on the same study budget: trials per minute.

``python -m automl model=forest`` (single-threaded forests of ``--trees`` trees on breast
cancer) runs ``--trials`` trials in one process (``sweep.workers=1``, the baseline), then with
``sweep.workers=2`` (a parent and two worker processes), alternating which goes first in each
repeat. The random sampler without pruning makes the two runs train the very same
configurations (each trial's draw depends only on the seed and its number), so the ratio is
throughput alone. Reported per run: wall time (launch to exit), the study's span (first trial
start to last trial end), trials per minute over each, and the number of distinct
configurations (which must equal the number of trials).

    python benchmarks/workers.py --trials 40 --trees 400 --repeats 3 \\
        --json benchmarks/results/workers.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=40, help="trials per study")
    p.add_argument("--trees", type=int, default=400, help="trees per forest (a trial's cost)")
    p.add_argument("--workers", type=int, default=2, help="workers of the parallel run")
    c.common_args(p)
    args = p.parse_args(argv)
    if args.trials < 1 or args.trees < 1 or args.workers < 2 or args.repeats < 1:
        p.error("--trials, --trees, --repeats must be >= 1 and --workers >= 2")
    return args


def command(run_dir: Path, study: str, args: argparse.Namespace, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "automl",
        "model=forest",
        "data=breast_cancer",
        f"space.n_estimators={args.trees}",
        "model.n_jobs=1",
        "sweep.sampler=random",
        "sweep.pruner=none",
        "sweep.live=false",
        f"sweep.n_trials={args.trials}",
        f"sweep.workers={workers}",
        f"sweep.study_name={study}",
        f"hydra.run.dir={run_dir}",
    ]


def read_study(run_dir: Path, study: str) -> list[dict[str, Any]]:
    """The study's trials (start, end, state, params) from whichever storage it used."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal = run_dir / "study.jsonl"
    if journal.exists():
        from optuna.storages.journal import JournalFileBackend

        storage: Any = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    else:
        storage = f"sqlite:///{run_dir / 'study.db'}"
    trials = optuna.load_study(study_name=study, storage=storage).trials
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "start": t.datetime_start.timestamp() if t.datetime_start else None,
            "end": t.datetime_complete.timestamp() if t.datetime_complete else None,
            "params": t.params,
            "worker": t.user_attrs.get("worker"),
        }
        for t in trials
    ]


def run_one(rep: int, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    work = c.fresh_dir(args.work / "workers" / f"rep{rep}" / f"w{workers}")
    study = f"bench-workers-{workers}-{time.time_ns()}"
    cmd = command(work / "run", study, args, workers)
    timed = c.run_timed(cmd, cwd=work, log=work / "log.txt")
    trials = read_study(work / "run", study)
    done = [t for t in trials if t["end"] is not None]
    span = max(t["end"] for t in done) - min(t["start"] for t in done)
    distinct = len({json.dumps(t["params"], sort_keys=True) for t in trials})
    return {
        "workers": workers,
        "repeat": rep,
        **timed.as_dict(),
        "span_s": span,
        "trials": len(trials),
        "distinct": distinct,
        "processes": len({t["worker"] for t in trials}),
        "per_min_wall": 60 * len(done) / timed.wall_s,
        "per_min_span": 60 * len(done) / span,
    }


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    runs: list[dict[str, Any]] = []
    for rep in range(args.repeats):
        order = (1, args.workers) if rep % 2 == 0 else (args.workers, 1)
        pair = {w: run_one(rep, w, args) for w in order}
        one, many = pair[1], pair[args.workers]
        many["ratio_wall"] = many["per_min_wall"] / one["per_min_wall"]
        many["ratio_span"] = many["per_min_span"] / one["per_min_span"]
        for w in order:
            r = pair[w]
            print(
                f"  rep {rep} workers={w}: wall {r['wall_s']:.1f} s, span {r['span_s']:.1f} s, "
                f"{r['per_min_wall']:.1f} trials/min (wall), {r['per_min_span']:.1f} (span), "
                f"{r['distinct']}/{r['trials']} distinct, load {r['load_start'][0]:.1f}",
                flush=True,
            )
            runs.append(r)
    table = {}
    for w in (1, args.workers):
        mine = [r for r in runs if r["workers"] == w]
        table[w] = {
            key: c.summary([r.get(key) for r in mine])
            for key in ("wall_s", "span_s", "per_min_wall", "per_min_span", "ratio_wall",
                        "ratio_span")
        }  # fmt: skip
        table[w]["distinct"] = f"{min(r['distinct'] for r in mine)}/{args.trials}"
    rows = [
        [
            f"sweep.workers={w}",
            c.fmt(t["wall_s"], 1),
            c.fmt(t["span_s"], 1),
            c.fmt(t["per_min_wall"], 1),
            c.fmt(t["per_min_span"], 1),
            c.fmt(t["ratio_wall"], 2) if w != 1 else "1",
            c.fmt(t["ratio_span"], 2) if w != 1 else "1",
            t["distinct"],
        ]
        for w, t in table.items()
    ]
    text = c.print_table(
        f"forest ({args.trees} trees, 1 thread) on breast cancer, {args.trials} trials, random "
        f"sampler, no pruning, {args.repeats} repeats (median [min-max])",
        ["run", "wall s", "study span s", "trials/min (wall)", "trials/min (span)",
         "x one (wall)", "x one (span)", "distinct configs"],
        rows,
    )  # fmt: skip
    result = {
        "benchmark": "workers",
        "settings": vars(args) | {"work": str(args.work), "env_root": str(args.env_root)},
        "versions": c.local_versions(["automl", "optuna", "scikit-learn"]),
        "machine": c.machine_info(),
        "summary": {str(k): v for k, v in table.items()},
        "table_markdown": text,
        "runs": runs,
    }
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
