"""Study storages: what a report costs in each, and what a second worker buys.

Part 1, report cost: a study of trials that each report ``--steps`` values with
``trial.report`` + ``trial.should_prune`` (median pruner), the way every epoch of an automl
trial does; the median time of one report+prune per storage, against Optuna's in-memory
storage measured in the same run.

Part 2, workers: ``python -m automl model=forest`` (single-threaded forests of 400 trees on
breast cancer) run to ``--trials`` trials by one worker, then by two workers started together
on the same study; the ratio is one worker's wall time over two workers'. On a machine with
two cores the ceiling is 2x, less the start-up each worker pays.

PostgreSQL: ``--postgres-url URL`` uses a running server; without it the script starts a
throwaway one with the tests' helper (``tests/postgres.py``: initdb + pg_ctl, fsync on as on
a real server, needs the PostgreSQL server binaries), or leaves PostgreSQL out when there are
none. SQLite and the journal file live in a temporary folder on the local disk.

    python benchmarks/storage.py --json benchmarks/results/storage.json
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, machine_info, write_json

sys.path.insert(0, str(REPO / "tests"))


def report_cost(storage, steps: int, trials: int) -> float:
    """Median seconds of one ``report`` + ``should_prune`` over ``trials`` x ``steps``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(
        storage=storage,
        study_name=f"bench-{time.monotonic_ns()}",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1 << 30),  # measure, never prune
    )
    times: list[float] = []

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(steps):
            start = time.perf_counter()
            trial.report(x * step, step)
            trial.should_prune()
            times.append(time.perf_counter() - start)
        return x

    study.optimize(objective, n_trials=trials)
    return statistics.median(times)


def cli_workers(url: str, workers: int, trials: int, work: Path) -> float:
    """Wall seconds for ``workers`` automl processes to finish one study of ``trials``."""
    name = f"bench-{workers}w-{time.monotonic_ns()}"
    args = [
        sys.executable,
        "-m",
        "automl",
        "model=forest",
        "space.n_estimators=400",
        "model.n_jobs=1",
        "sweep.live=false",
        f"sweep.n_trials={trials}",
        f"sweep.storage={url}",
        f"sweep.study_name={name}",
    ]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*args, f"hydra.run.dir={work / name / str(i)}"],
            cwd=work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"worker failed: {err.strip().splitlines()[-1]}")
    return time.perf_counter() - start


@contextlib.contextmanager
def postgres(url: str | None):
    if url:
        yield url
        return
    from postgres import postgres_bin, running_postgres

    bindir = postgres_bin()
    if bindir is None:
        print("no PostgreSQL server binaries: PostgreSQL left out")
        yield None
        return
    with running_postgres(bindir, fsync=True) as started:
        yield started


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="reports per trial (part 1)")
    p.add_argument("--report-trials", type=int, default=10, help="trials (part 1)")
    p.add_argument("--trials", type=int, default=16, help="trials of the worker study (part 2)")
    p.add_argument("--postgres-url", default=None, help="use this server instead of starting one")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)

    from automl.tuning.storage import make_storage

    result: dict = {"machine": machine_info(), "report_ms": {}, "workers": {}}
    with tempfile.TemporaryDirectory() as tmp, postgres(args.postgres_url) as pg:
        work = Path(tmp)
        urls = {
            "sqlite": f"sqlite:///{work / 'study.db'}",
            "journal": str(work / "study.jsonl"),
            **({"postgresql": pg} if pg else {}),
        }
        print(f"part 1: one report + should_prune, {args.report_trials} trials x {args.steps}")
        base = report_cost(None, args.steps, args.report_trials)
        result["report_ms"]["in-memory"] = base * 1e3
        print(f"  {'in-memory (baseline)':<22} {base * 1e3:7.2f} ms   1.0x")
        for name, url in urls.items():
            cost = report_cost(make_storage(url, work), args.steps, args.report_trials)
            result["report_ms"][name] = cost * 1e3
            print(f"  {name:<22} {cost * 1e3:7.2f} ms {cost / base:5.0f}x")

        print(
            f"part 2: forest study of {args.trials} trials, 1 worker vs 2 (cpus: {os.cpu_count()})"
        )
        for name, url in urls.items():
            one = cli_workers(url, 1, args.trials, work)
            two = cli_workers(url, 2, args.trials, work)
            result["workers"][name] = {"one_s": one, "two_s": two, "speedup": one / two}
            print(f"  {name:<11} 1 worker {one:6.1f} s   2 workers {two:6.1f} s   {one / two:.2f}x")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
