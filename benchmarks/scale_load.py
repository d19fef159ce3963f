"""Load test of the scale-out path: N worker processes on PostgreSQL, directly and through
``automl storage-proxy``, with trials that only sleep (the storage and the scheduling are what
is measured).

For each worker count (``--workers``, default 8 32 64) and each storage (``postgres``: the
workers connect to the database; ``grpc``: they talk to one ``python -m automl storage-proxy``
in front of it), it runs ``python -m automl model=sleepy sweep.workers=N
sweep.n_trials=<N * --trials-per-worker>`` (``benchmarks/scale_plugin/sleepy.py``: ``--steps``
sleeps of ``--step-ms`` ms per trial, a report after each; a discrete 8000-point space;
random sampling, no pruning) on a throwaway PostgreSQL server (``tests/postgres.py``, fsync
on, ``max_connections`` raised to ``--max-connections`` so that the direct runs can be
measured past the default 100), sampling ``pg_stat_activity`` every 0.1 s. Sizes run
interleaved (the two storages of one size back to back). Reported per run, from the study as
stored:

- admitted/s: trials started per second, first start to last start;
- wait p50/p99: the seconds a trial's worker waited for the admission lock (its record's
  ``admission_s``; "nan" for code that does not record it);
- gap p50/p99: the time from a worker's trial ending to its next trial starting (the lock's
  queue, the lost-trial check, the draw and the trial's creation; a worker's first trial,
  which waited for its process to start, is left out);
- DB conns: most client connections to the database at once (the proxy's included);
- lost: trials failed as lost (``failure=lost``); dup: parameter sets run twice (retries of
  the same trial excepted); RUNNING: trials left RUNNING; total: trials that count, against
  ``sweep.n_trials``;
- ratios proxy/direct for admitted/s and connections, measured in the same run.

    python benchmarks/scale_load.py --workers 8 32 64 --json benchmarks/results/scale_load.json
    python benchmarks/scale_load.py --workers 64 --code before=../old-checkout after=.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from _common import HERE, REPO, machine_info, write_json

sys.path.insert(0, str(REPO / "tests"))

PLUGIN_DIR = HERE / "scale_plugin"
STORAGES = ("postgres", "grpc")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64])
    p.add_argument("--storages", nargs="+", default=list(STORAGES), choices=STORAGES)
    p.add_argument("--trials-per-worker", type=int, default=20)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--step-ms", type=float, default=5.0)
    p.add_argument("--max-connections", type=int, default=400)
    p.add_argument(
        "--code",
        nargs="+",
        default=[],
        metavar="NAME=DIR",
        help="run each size and storage once per automl checkout (DIR first on the workers' "
        "PYTHONPATH; the baseline first), e.g. before=/tmp/old after=. (default: the "
        "installed automl only)",
    )
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


class ConnectionSampler:
    """The most client connections to the database at once, sampled every 0.1 s."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://")
        self.seen: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        # autocommit: inside one transaction pg_stat_activity is a frozen snapshot
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                ).fetchone()
                self.seen.append(int(row[0]))
                self._stop.wait(0.1)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> int:
        return max(self.seen, default=0)


def start_proxy(url: str) -> tuple[subprocess.Popen, str]:
    from postgres import free_port

    port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "automl", "storage-proxy", url, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    first = proxy.stdout.readline()
    if "served on" not in first:
        raise SystemExit(f"the storage proxy did not start: {first}{proxy.stdout.read()}")
    return proxy, f"grpc://127.0.0.1:{port}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def measure(study) -> dict:
    """Throughput, waits and correctness from the trials as stored."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    starts = sorted(t.datetime_start.timestamp() for t in trials if t.datetime_start)
    by_worker: dict[str, list] = defaultdict(list)
    for t in trials:
        if t.datetime_start and t.user_attrs.get("worker"):
            by_worker[t.user_attrs["worker"]].append(t)
    gaps = []
    for own in by_worker.values():
        own.sort(key=lambda t: t.datetime_start)
        for before, after in zip(own, own[1:], strict=False):
            if before.datetime_complete is not None:
                gaps.append(after.datetime_start.timestamp() - before.datetime_complete.timestamp())
    # The lock's own queue, as each trial's record says (automl records it since drafts).
    waits = [t.user_attrs["admission_s"] for t in trials if "admission_s" in t.user_attrs]
    seen: dict[str, int] = defaultdict(int)
    for t in trials:
        if t.user_attrs.get("retry_of") is None and t.params:
            seen[json.dumps(t.params, sort_keys=True)] += 1
    counted = [
        t for t in trials if t.state != TrialState.FAIL or t.user_attrs.get("counts") is True
    ]
    span = starts[-1] - starts[0] if len(starts) > 1 else float("nan")
    return {
        "trials": len(trials),
        "counted": len(counted),
        "admitted_per_s": (len(starts) - 1) / span if span and span > 0 else float("nan"),
        "wait_p50_s": percentile(waits, 50),
        "wait_p99_s": percentile(waits, 99),
        "wait_max_s": max(waits, default=float("nan")),
        "gap_p50_s": percentile(gaps, 50),
        "gap_p99_s": percentile(gaps, 99),
        "lost": sum(t.user_attrs.get("failure") == "lost" for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "duplicates": sum(n - 1 for n in seen.values() if n > 1),
        "running": sum(t.state == TrialState.RUNNING for t in trials),
        "workers_seen": len(by_worker),
    }


def run_one(
    storage: str, url: str, db_url: str, workers: int, args, work: Path, code: tuple[str, str]
) -> dict:
    import optuna

    from automl.tuning.storage import make_storage

    name = f"load-{storage}-{workers}-{time.monotonic_ns()}"
    n_trials = workers * args.trials_per_worker
    path = os.pathsep.join(p for p in (str(PLUGIN_DIR), code[1], os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    cmd = [sys.executable, "-m", "automl", "model=sleepy", f"model.steps={args.steps}",
           f"model.step_ms={args.step_ms}", "sweep.sampler=random", "sweep.pruner=none",
           "sweep.live=false", "sweep.report=false", "sweep.enqueue_defaults=false",
           f"sweep.workers={workers}", f"sweep.n_trials={n_trials}", f"sweep.storage={url}",
           f"sweep.study_name={name}", f"hydra.run.dir={work / name}"]  # fmt: skip
    before = loadavg()
    began = time.monotonic()
    with ConnectionSampler(db_url) as conns:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=work, env=env)
    wall = time.monotonic() - began
    if done.returncode:
        print(done.stdout[-3000:], done.stderr[-3000:], file=sys.stderr)
    study = optuna.load_study(study_name=name, storage=make_storage(db_url, work))
    result = {
        "code": code[0],
        "storage": storage,
        "workers": workers,
        "n_trials": n_trials,
        "exit": done.returncode,
        "wall_s": wall,
        "db_connections_peak": conns.peak,
        "load_before": before,
        "load_after": loadavg(),
        **measure(study),
    }
    return result


def row(r: dict) -> str:
    return (
        f"{r['code']:>7} {r['storage']:>8} {r['workers']:>4} {r['counted']:>5}/{r['n_trials']:<5} "
        f"{r['admitted_per_s']:>10.1f} {r['wait_p50_s']:>8.3f} {r['wait_p99_s']:>8.3f} "
        f"{r['gap_p50_s']:>7.3f} {r['gap_p99_s']:>7.3f} "
        f"{r['db_connections_peak']:>8} {r['lost']:>4} {r['duplicates']:>4} {r['running']:>7} "
        f"{r['exit']:>4} {r['wall_s']:>7.1f}  load {r['load_before']} -> {r['load_after']}"
    )


def main(argv=None) -> None:
    from postgres import postgres_bin, postgres_server

    args = parse_args(argv)
    # SIGTERM ends the run through the finally blocks: the proxy and the server are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bindir = postgres_bin()
    if bindir is None:
        raise SystemExit("no PostgreSQL server binaries (Debian: apt-get install postgresql)")
    result: dict = {"machine": machine_info(), "args": vars(args) | {"json": None}, "runs": []}
    settings = {"max_connections": str(args.max_connections)}
    header = (
        f"{'code':>7} {'storage':>8} {'N':>4} {'total':>11} {'admitted/s':>10} {'wait p50':>8} "
        f"{'wait p99':>8} {'gap p50':>7} {'gap p99':>7} {'DB conns':>8} {'lost':>4} {'dup':>4} "
        f"{'RUNNING':>7} {'exit':>4} {'wall s':>7}"
    )
    codes = [tuple(c.split("=", 1)) for c in args.code] or [("-", "")]
    for name, where in codes:
        if where and not (Path(where) / "automl" / "__init__.py").is_file():
            raise SystemExit(f"--code {name}={where}: no automl checkout there")
    with postgres_server(bindir, fsync=True, settings=settings) as server, \
            tempfile.TemporaryDirectory() as tmp:  # fmt: skip
        db_url = server.url
        proxy = url_of = None
        if "grpc" in args.storages:
            proxy, url_of = start_proxy(db_url)
        try:
            print(header, flush=True)
            for workers in args.workers:
                for storage in args.storages:
                    for code in codes:
                        url = db_url if storage == "postgres" else url_of
                        r = run_one(storage, url, db_url, workers, args, Path(tmp), code)
                        result["runs"].append(r)
                        print(row(r), flush=True)
        finally:
            if proxy is not None:
                proxy.terminate()
                proxy.communicate(timeout=60)
    by = {(r["code"], r["storage"], r["workers"]): r for r in result["runs"]}
    for workers in args.workers:
        for name, _ in codes:
            direct, proxied = by.get((name, "postgres", workers)), by.get((name, "grpc", workers))
            if direct and proxied:
                print(
                    f"{name} N={workers}: proxy/direct admitted/s x"
                    f"{proxied['admitted_per_s'] / direct['admitted_per_s']:.2f}, DB connections "
                    f"{proxied['db_connections_peak']} vs {direct['db_connections_peak']}",
                    flush=True,
                )
        for storage in args.storages:
            base = by.get((codes[0][0], storage, workers))
            for name, _ in codes[1:]:
                other = by.get((name, storage, workers))
                if base and other:
                    print(
                        f"{storage} N={workers}: {name}/{codes[0][0]} admitted/s x"
                        f"{other['admitted_per_s'] / base['admitted_per_s']:.2f}, gap p99 "
                        f"{other['gap_p99_s']:.2f} s vs {base['gap_p99_s']:.2f} s",
                        flush=True,
                    )
    write_json(args.json, result)


if __name__ == "__main__":
    main()
