"""The README's main job idle, beside two CPU hogs and beside a second study: before and after.

Each variant runs the same study command (``--job``, default the README's ``model=cnn
sweep=optuna``, shortened with ``--override``) in a fresh run directory, under three
conditions, interleaved (the variants alternate which goes first):

- ``idle``: nothing of ours beside it (other jobs may share the machine: the load average at
  each start is recorded);
- ``hogs``: two ``python -c "while True: pass"`` processes running beside it;
- ``second``: a second, identical study of the same variant started at the same moment
  (two users on one machine); both are timed.

A variant is an interpreter (``--before``: a checkout of the code before the change, with its
own environment) and extra overrides (``after-1t``: ``trainer.num_threads=1``). "Fair share" is
the idle time times the machine's total CPU demand over its cores: the job's own demand (its
CPU seconds per wall second when idle) plus the competitors' (2 for the two hogs, the same
job's for a second study), so that every party slows down alike; a wall time of 1.0x fair
share means the job got exactly its share.

    nice -n 10 python benchmarks/threads.py --before ../base/.venv/bin/python --repeats 2 \\
        --override sweep.n_trials=8 --json benchmarks/results/threads.json
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

CONDITIONS = ("idle", "hogs", "second")
HOG = "while True: pass"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--job", default="model=cnn sweep=optuna", help="the study's overrides")
    p.add_argument("--override", action="append", default=[], help="extra overrides (repeat)")
    p.add_argument("--before", type=Path, default=None, help="python of the code before")
    p.add_argument(
        "--variants",
        default="before,after,after-1t,after-2t",
        help="before (needs --before), after (defaults), after-1t/after-2t (num_threads 1/2)",
    )
    p.add_argument("--conditions", default=",".join(CONDITIONS), help="idle, hogs, second")
    c.common_args(p, repeats=2)
    args = p.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    args.conditions = [x.strip() for x in args.conditions.split(",") if x.strip()]
    if "before" in args.variants and args.before is None:
        args.variants.remove("before")
    known = {"before", "after", "after-1t", "after-2t"}
    if set(args.variants) - known or set(args.conditions) - set(CONDITIONS):
        p.error(f"variants: {', '.join(sorted(known))}; conditions: {', '.join(CONDITIONS)}")
    return args


def _command(variant: str, args: argparse.Namespace, work: Path) -> list[str]:
    python = str(args.before) if variant == "before" else sys.executable
    extra = {"after-1t": ["trainer.num_threads=1"], "after-2t": ["trainer.num_threads=2"]}
    return [
        python, "-m", "automl", *shlex.split(args.job), *args.override,
        *extra.get(variant, []), "sweep.live=false", f"hydra.run.dir={work}",
        f"sweep.study_name=bench-threads-{time.time_ns()}",
    ]  # fmt: skip


def _start(cmd: list[str], log: Path) -> tuple[subprocess.Popen, float, Any]:
    handle = open(log, "w")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Started in the run's folder, not in a checkout: `python -m automl` puts the current
    # folder first on sys.path, so a checkout there would shadow the variant's own automl.
    proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=log.parent)
    return proc, time.perf_counter(), handle


def _wait(proc: subprocess.Popen, t0: float, handle: Any) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system, the process and its threads), exit code."""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    handle.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def run_once(variant: str, condition: str, rep: int, args: argparse.Namespace) -> dict:
    work = (args.work / "threads" / condition / f"rep{rep}" / variant).resolve()
    c.fresh_dir(work)
    hogs: list[subprocess.Popen] = []
    if condition == "hogs":
        hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(2)]
    load_start = os.getloadavg()
    try:
        jobs = [_start(_command(variant, args, work / "a"), work / "a.log")]
        if condition == "second":
            jobs.append(_start(_command(variant, args, work / "b"), work / "b.log"))
        done = [_wait(*job) for job in jobs]
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    return {
        "variant": variant,
        "condition": condition,
        "repeat": rep,
        "command": shlex.join(_command(variant, args, work / "a")),
        "wall_s": done[0][0],
        "cpu_s": done[0][1],
        "returncode": done[0][2],
        "second_wall_s": done[1][0] if len(done) > 1 else None,
        "second_cpu_s": done[1][1] if len(done) > 1 else None,
        "load_start": list(load_start),
        "load_end": list(os.getloadavg()),
    }


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the hogs started here are killed on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    cores = len(os.sched_getaffinity(0))
    runs: list[dict[str, Any]] = []
    turn = 0
    for rep in range(args.repeats):
        for condition in args.conditions:
            k = turn % len(args.variants)
            turn += 1
            for variant in args.variants[k:] + args.variants[:k]:
                row = run_once(variant, condition, rep, args)
                runs.append(row)
                print(
                    f"  {condition:<6} rep {rep} {variant:<9} wall {row['wall_s']:7.1f} s  cpu "
                    f"{row['cpu_s']:6.1f} s  exit {row['returncode']}  load "
                    f"{row['load_start'][0]:.1f}",
                    flush=True,
                )
    rows, summary = [], {}
    for variant in args.variants:
        idle = [r for r in runs if r["variant"] == variant and r["condition"] == "idle"]
        idle_wall = statistics.median([r["wall_s"] for r in idle]) if idle else None
        demand = statistics.median([r["cpu_s"] / r["wall_s"] for r in idle]) if idle else None
        for condition in args.conditions:
            mine = [r for r in runs if r["variant"] == variant and r["condition"] == condition]
            walls = [r["wall_s"] for r in mine] + [
                r["second_wall_s"] for r in mine if r["second_wall_s"] is not None
            ]
            wall = c.summary(walls)
            fair = None
            if idle_wall is not None and demand is not None:
                others = {"idle": 0.0, "hogs": 2.0, "second": demand}[condition]
                fair = idle_wall * max((demand + others) / cores, 1.0)
            ratio = c.summary([w / fair for w in walls]) if fair else c.summary([])
            cpu = c.summary([r["cpu_s"] for r in mine])
            loads = [r["load_start"][0] for r in mine]
            summary[f"{variant}/{condition}"] = {"wall_s": wall, "fair_s": fair, "x_fair": ratio}
            rows.append(
                [
                    variant,
                    condition,
                    c.fmt(wall, 1),
                    c.fmt(cpu, 1),
                    "-" if fair is None else f"{fair:.1f}",
                    c.fmt(ratio, 2),
                    f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-",
                ]
            )
    text = c.print_table(
        f"{args.job} {' '.join(args.override)}: {args.repeats} repeat(s) (median [min-max])",
        ["variant", "beside", "wall s", "cpu s", "fair share s", "x fair share", "load avg"],
        rows,
    )
    result = {
        "benchmark": "threads",
        "settings": {
            "job": args.job,
            "override": args.override,
            "variants": args.variants,
            "conditions": args.conditions,
            "repeats": args.repeats,
            "before": str(args.before) if args.before else None,
            "cores": cores,
        },
        "versions": c.local_versions(["automl", "torch", "optuna", "pytorch-lightning"]),
        "machine": c.machine_info(),
        "summary": summary,
        "table_markdown": text,
        "runs": runs,
    }
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
