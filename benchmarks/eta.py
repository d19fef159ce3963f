"""How close is the time left that automl shows to the time that was actually left?

Runs each command (a study through ``python -m automl``, as a user runs it) to its end, then
replays the finished study: at every moment a trial finished, the estimate the live header
would have shown then (``automl.results.leaderboard.pace.pace`` on the trials as they stood:
those finished by then, and those running then with their start) is compared with the time
that was really left (the last trial's end minus that moment). The estimate is a function of
the stored trial times only, so the replay shows exactly what the header showed.

Printed per study: the error at the first quarter of the trials and the largest error after it,
as ratios ``estimate / actual``.

    python benchmarks/eta.py --run "model=cnn sweep=optuna" --run "model=auto" \\
        --json benchmarks/results/eta.json
    python benchmarks/eta.py --from runs/cnn-digits          # replay a finished study
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", default=[], help="overrides of one study to run")
    p.add_argument("--from", dest="dirs", action="append", default=[], help="run dirs to replay")
    p.add_argument("--json", type=Path, help="write the results here")
    return p.parse_args(argv)


def replay(run_dir: Path) -> dict[str, Any]:
    """The estimate at each finished trial of a stored study, against the time really left."""
    from automl.results.leaderboard import row_from_trial
    from automl.results.leaderboard.pace import pace
    from automl.tuning.stored import open_stored

    stored = open_stored(str(run_dir))
    trials = [t for t in stored.snapshot().trials if t.datetime_complete is not None]
    rows = [row_from_trial(t) for t in trials]
    counted = [r for r in rows if r.counts]
    total = len(counted)
    end = max(r.ended for r in rows if r.ended is not None)
    points = []
    for moment in sorted(r.ended for r in counted if r.ended is not None):
        seen = []
        for row in rows:
            if row.started is None or row.started > moment:
                continue
            if row.ended is not None and row.ended <= moment:
                seen.append(row)
            else:  # running at that moment
                seen.append(
                    dataclasses.replace(
                        row, state="RUNNING", ended=None, duration=None, counts=False
                    )
                )
        now = pace(seen, total, now=moment)
        actual = end - moment
        if now.left is None or now.done >= total:
            continue
        points.append(
            {
                "done": now.done,
                "estimate_s": round(now.left, 1),
                "actual_s": round(actual, 1),
                "ratio": round(now.left / actual, 3) if actual > 0 else None,
            }
        )
    quarter = next((p for p in points if p["done"] >= total / 4), None)
    after = [p for p in points if p["done"] >= total / 4 and p["ratio"] is not None]
    worst = max(after, key=lambda p: abs(p["ratio"] - 1), default=None)
    return {
        "study": stored.name,
        "trials": total,
        "wall_s": round(end - min(r.started for r in rows if r.started is not None), 1),
        "at_quarter": quarter,
        "worst_after_quarter": worst,
        "within_30pct_after_quarter": sum(abs(p["ratio"] - 1) <= 0.3 for p in after),
        "points_after_quarter": len(after),
        "points": points,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    dirs = [Path(d) for d in args.dirs]
    runs: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="automl-eta-"))
    for i, overrides in enumerate(args.run):
        run_dir = work / f"run{i}"
        command = [sys.executable, "-m", "automl", *shlex.split(overrides),
                   f"hydra.run.dir={run_dir}", "sweep.report=false"]  # fmt: skip
        load = os.getloadavg()
        began = time.time()
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
            return 1
        runs.append({"command": overrides, "wall_s": round(time.time() - began, 1),
                     "loadavg_before": load, "loadavg_after": os.getloadavg()})  # fmt: skip
        dirs.append(run_dir)
    results = []
    for i, run_dir in enumerate(dirs):
        result = replay(run_dir)
        if i >= len(dirs) - len(runs) and runs:
            result.update(runs[i - (len(dirs) - len(runs))])
        results.append(result)
        q, w = result["at_quarter"], result["worst_after_quarter"]
        print(
            f"{result['study']}: {result['trials']} trials in {result['wall_s']} s; "
            f"at {q['done'] if q else '-'} done: estimate {q['estimate_s'] if q else '-'} s, "
            f"actual {q['actual_s'] if q else '-'} s (ratio {q['ratio'] if q else '-'}); "
            f"worst after the first quarter: ratio {w['ratio'] if w else '-'} at "
            f"{w['done'] if w else '-'} done; within 30%: "
            f"{result['within_30pct_after_quarter']}/{result['points_after_quarter']}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
