"""SIGTERM to exit on a study of large forests, against the same study's unbounded end.

A scheduler sends SIGTERM and, after its ``KillWait`` (SLURM: 30 s), SIGKILL. Each repeat runs
``python -m automl model=forest space.n_estimators=--trees`` twice in fresh run directories:

- **end** (the baseline): one trial to completion with the report on; measured from the
  moment the storage records the trial COMPLETE to the exit: the leaderboard, the export of
  ``best/`` (load the forest, test it, save it) and ``report/``, unbounded;
- **stop**: three trials; SIGTERM once trial 1 trains (trial 0 complete, ``best/`` not yet
  written); measured from the signal to the exit: trial 1 failed and queued again, the
  leaderboard, and the export bounded to ``automl.tuning.finish.STOP_EXPORT_S`` after the
  signal, no report.

    python benchmarks/stop_time.py --trees 2000 --repeats 2 --json benchmarks/results/stop_time.json
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trees", type=int, default=2000, help="trees per forest (its export cost)")
    c.common_args(p, repeats=2)
    args = p.parse_args(argv)
    if args.trees < 1 or args.repeats < 1:
        p.error("--trees and --repeats must be >= 1")
    return args


def command(run_dir: Path, trees: int, trials: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "automl",
        "model=forest",
        "data=breast_cancer",
        f"space.n_estimators={trees}",
        "sweep.live=false",
        "sweep.report=true",
        f"sweep.n_trials={trials}",
        "sweep.study_name=stop",
        f"hydra.run.dir={run_dir}",
    ]


def _states(run_dir: Path) -> list[str]:
    import optuna

    from automl.tuning.storage import make_storage

    try:
        storage = make_storage(None, run_dir)
        return [t.state.name for t in optuna.load_study(study_name="stop", storage=storage).trials]
    except Exception:  # not created yet, or locked for a moment by the writer
        return []


def _wait(proc: subprocess.Popen, ready: Any) -> float:
    """Poll until ``ready()``; the monotonic time it was first seen."""
    while not ready():
        if proc.poll() is not None:
            raise SystemExit(f"the study exited {proc.returncode} before the measured moment")
        time.sleep(0.2)
    return time.monotonic()


def measure_end(work: Path, trees: int) -> float:
    run_dir = c.fresh_dir(work / "end")
    proc = subprocess.Popen(command(run_dir, trees, 1), stdout=subprocess.DEVNULL)
    seen = _wait(proc, lambda: _states(run_dir) == ["COMPLETE"])
    proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"the baseline study exited {proc.returncode}")
    return time.monotonic() - seen


def measure_stop(work: Path, trees: int) -> tuple[float, bool]:
    run_dir = c.fresh_dir(work / "stop")
    proc = subprocess.Popen(command(run_dir, trees, 3), stdout=subprocess.PIPE, text=True)

    def training() -> bool:
        states = _states(run_dir)
        return states[:2] == ["COMPLETE", "RUNNING"] and (run_dir / "trials/0001").is_dir()

    _wait(proc, training)
    start = time.monotonic()
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate()
    took = time.monotonic() - start
    if proc.returncode != 143:
        raise SystemExit(f"the stopped study exited {proc.returncode}, not 143")
    return took, (run_dir / "best" / "metrics.json").exists() and "takes longer" not in out


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    work = c.fresh_dir(args.work / "stop_time")
    ends, stops, exported = [], [], []
    for repeat in range(args.repeats):
        load = os.getloadavg()[0]
        end = measure_end(work, args.trees)
        stop, written = measure_stop(work, args.trees)
        ends.append(end)
        stops.append(stop)
        exported.append(written)
        print(f"repeat {repeat}: end {end:.1f} s, SIGTERM to exit {stop:.1f} s "
              f"(best/ {'written' if written else 'left for the next run'}), "
              f"load {load:.1f}")  # fmt: skip
    result = {
        "trees": args.trees,
        "end_s": c.summary(ends),
        "stop_s": c.summary(stops),
        "stop_over_end": c.summary([s / e for s, e in zip(stops, ends, strict=True)]),
        "best_written_after_stop": exported,
        "machine": c.machine_info(),
    }
    print(f"unbounded end {c.fmt(result['end_s'])} s; SIGTERM to exit {c.fmt(result['stop_s'])} s;"
          f" ratio {c.fmt(result['stop_over_end'], 2)}")  # fmt: skip
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
