"""How many PostgreSQL connections a study with ``sweep.workers=N`` holds at once.

Starts a throwaway PostgreSQL server (``tests/postgres.py``: needs the server binaries), runs
``python -m automl model=forest sweep.workers=N`` on it, and samples ``pg_stat_activity`` every
0.1 s for the client connections to the study's database (the sampler's own excluded): the
most seen at once, per worker count. The numbers size ``max_connections`` (docs/distributed.md).

    python benchmarks/pg_connections.py --workers 1 2 4 \\
        --json benchmarks/results/pg_connections.json
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import REPO, machine_info, write_json

sys.path.insert(0, str(REPO / "tests"))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def peak_connections(url: str, workers: int, trials: int, work: Path) -> int:
    import psycopg

    name = f"pg-{workers}-{time.monotonic_ns()}"
    seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        # autocommit: inside one transaction pg_stat_activity is a frozen snapshot
        plain = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ).fetchone()
                seen.append(int(row[0]))
                stop.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    done = subprocess.run(
        [sys.executable, "-m", "automl", "model=forest", "space.n_estimators=200",
         "sweep.live=false", f"sweep.workers={workers}", f"sweep.n_trials={trials}",
         f"sweep.storage={url}", f"sweep.study_name={name}",
         f"hydra.run.dir={work / name}"],
        capture_output=True, text=True, cwd=work,
    )  # fmt: skip
    stop.set()
    thread.join()
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    return max(seen, default=0)


def main(argv=None) -> None:
    from postgres import postgres_bin, running_postgres

    args = parse_args(argv)
    bindir = postgres_bin()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries (Debian: apt-get install postgresql)")
    result: dict = {"machine": machine_info(), "peak": {}}
    with running_postgres(bindir) as url, tempfile.TemporaryDirectory() as tmp:
        for n in args.workers:
            peak = peak_connections(url, n, args.trials, Path(tmp))
            result["peak"][n] = peak
            print(f"  sweep.workers={n}: at most {peak} connections at once", flush=True)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
