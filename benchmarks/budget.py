"""``model=auto`` in a time budget: wall time / budget, next to FLAML in the same budget.

For each repeat, budget T, data set and load, interleaved (the two tools alternate which
goes first):

- ``auto``: ``python -m automl model=auto data=<set> sweep.timeout=T sweep.n_trials=100000
  sweep.seed=<repeat>`` with every other setting at its default (threads, report, protocol):
  the budget covers the whole command, from its start to its exit;
- ``flaml``: FLAML ``AutoML(time_budget=T)`` with its default estimator list and ``n_jobs``
  (``--flaml-n-jobs``), given the same 80 % non-test rows (``benchmarks/peers/flaml_run.py``).

Loads: ``none`` (nothing of ours beside the run; other jobs may share the machine: each run's
load average is recorded) and ``hog`` (one ``python -c "while True: pass"`` process running
beside both tools' runs). Both sides are tested once on the same 20 % test rows: accuracy for
classification, RMSE for diabetes. The data sets are ``benchmarks/auto_vs_flaml.py``'s.

    nice -n 10 python benchmarks/budget.py --budgets 30,60,120 --repeats 1 \\
        --json benchmarks/results/budget.json

The table gives wall / T (target: at most 1.1, or T + 10 s for short budgets) per side.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
from auto_vs_flaml import DATA, _data_args, export_split  # noqa: E402

LOADS = ("none", "hog")
HOG = "while True: pass"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budgets", default="30,60,120", help="comma-separated budgets in seconds")
    p.add_argument("--data", default=",".join(DATA), help="comma-separated data sets")
    p.add_argument("--loads", default=",".join(LOADS), help="none, hog or both")
    p.add_argument("--sides", default="auto,flaml", help="auto, flaml or both")
    p.add_argument("--flaml-n-jobs", type=int, default=-1, help="FLAML's n_jobs (its default -1)")
    c.common_args(p)
    args = p.parse_args(argv)
    args.budgets = [float(b) for b in args.budgets.split(",") if b.strip()]
    args.data = [d.strip() for d in args.data.split(",") if d.strip()]
    args.loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    args.sides = [x.strip() for x in args.sides.split(",") if x.strip()]
    if set(args.data) - set(DATA) or set(args.loads) - set(LOADS):
        p.error(f"data: {', '.join(DATA)}; loads: {', '.join(LOADS)}")
    if set(args.sides) - {"auto", "flaml"}:
        p.error("sides: auto, flaml")
    return args


def _work(args: argparse.Namespace, data: str, budget: float, load: str, rep: int, side: str):
    work = args.work / "budget" / data / f"b{budget:g}" / load / f"rep{rep}" / side
    c.fresh_dir(work)
    return work


def run_auto(data: str, budget: float, load: str, rep: int, args: argparse.Namespace) -> dict:
    work = _work(args, data, budget, load, rep, "auto")
    cmd = [
        sys.executable, "-m", "automl", "model=auto", *_data_args(data, args.work),
        f"sweep.timeout={budget:g}", "sweep.n_trials=100000", f"sweep.seed={rep}",
        f"sweep.study_name=bench-budget-{data}-{time.time_ns()}", "sweep.live=false",
        f"hydra.run.dir={work}",
    ]  # fmt: skip
    # Exit 1 is an answer too (no trial had a result in time); keep going.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    load_start, t0 = os.getloadavg(), time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    (work / "log.txt").write_text(done.stdout)
    board_file = work / "leaderboard.json"
    rows = json.loads(board_file.read_text())["trials"] if board_file.exists() else []
    metrics_file = work / "best" / "metrics.json"
    test = json.loads(metrics_file.read_text())["test"] if metrics_file.exists() else {}
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    best = next((r for r in rows if r.get("rank") == 1), None)
    return {
        "command": shlex.join(cmd),
        "wall_s": wall,
        "returncode": done.returncode,
        "load_start": list(load_start),
        "load_end": list(os.getloadavg()),
        "test_acc": test.get("test_acc"),
        "test_rmse": test.get("test_rmse"),
        "n_trials": sum(r["state"] in ("COMPLETE", "PRUNED", "STOPPED") for r in rows),
        "states": states,
        "best_family": best.get("family") if best else None,
        "best_state": best.get("state") if best else None,
        "report": (work / "report" / "index.html").exists(),
        "tail": done.stdout[-1500:],
    }


def run_flaml(
    data: str, budget: float, load: str, rep: int, args: argparse.Namespace, py: Path, npz: Path
) -> dict:
    work = _work(args, data, budget, load, rep, "flaml")
    task = "regression" if data == "diabetes" else "classification"
    out_file = work / "result.json"
    cmd = [
        str(py), str(c.PEERS_DIR / "flaml_run.py"), "--data", str(npz), "--budget", f"{budget:g}",
        "--task", task, "--seed", str(rep), "--n-jobs", str(args.flaml_n_jobs),
        "--log", str(work / "flaml.log"), "--out", str(out_file),
    ]  # fmt: skip
    timed = c.run_timed(cmd, log=work / "log.txt")
    return {"command": shlex.join(cmd), **timed.as_dict(), **json.loads(out_file.read_text())}


def _score(row: dict[str, Any], data: str) -> float | None:
    return row.get("test_rmse") if data == "diabetes" else row.get("test_acc")


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the hogs started here are killed on the way out.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    env = c.peer_env("flaml")
    if args.print_env_commands:
        for cmd in c.env_commands(env, args.env_root):
            print(shlex.join(cmd))
        return {}
    py = c.ensure_env(env, args.env_root) if "flaml" in args.sides else None
    npz = {}
    for data in args.data:
        npz[data] = args.work / "budget" / f"{data}.npz"
        export_split(data, args.work, npz[data])
    runs: list[dict[str, Any]] = []
    turn = 0
    for rep in range(args.repeats):
        for budget in args.budgets:
            for data in args.data:
                for load in args.loads:
                    hog = None
                    if load == "hog":
                        hog = subprocess.Popen([sys.executable, "-c", HOG])
                    try:
                        order = (
                            args.sides[turn % len(args.sides) :]
                            + args.sides[: turn % len(args.sides)]
                        )
                        turn += 1
                        for side in order:
                            if side == "auto":
                                row = run_auto(data, budget, load, rep, args)
                            else:
                                assert py is not None
                                row = run_flaml(data, budget, load, rep, args, py, npz[data])
                            row.update(side=side, data=data, budget=budget, load=load, repeat=rep)
                            score = _score(row, data)
                            print(
                                f"  {data:<13} T={budget:>4g} load={load:<4} {side:<5} "
                                f"wall {row['wall_s']:6.1f} s ({row['wall_s'] / budget:4.2f} T)  "
                                f"test {'-' if score is None else f'{score:.4f}'}  "
                                f"trials {row.get('n_trials')}  loadavg {row['load_start'][0]:.1f}",
                                flush=True,
                            )
                            runs.append(row)
                    finally:
                        if hog is not None:
                            hog.kill()
                            hog.wait()
    rows, summary = [], {}
    for budget in args.budgets:
        for data in args.data:
            for load in args.loads:
                cells: list[str] = [f"{budget:g}", data, load]
                for side in ("auto", "flaml"):
                    key = (side, data, budget, load)
                    mine = [
                        r for r in runs if (r["side"], r["data"], r["budget"], r["load"]) == key
                    ]
                    ratio = c.summary([r["wall_s"] / budget for r in mine])
                    test = c.summary([_score(r, data) for r in mine])
                    summary[f"{budget:g}/{data}/{load}/{side}"] = {
                        "wall_ratio": ratio,
                        "test": test,
                    }
                    cells += [c.fmt(ratio, 2), c.fmt(test, 4)]
                loads = [
                    r["load_start"][0]
                    for r in runs
                    if (r["data"], r["budget"], r["load"]) == (data, budget, load)
                ]
                cells.append(f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-")
                rows.append(cells)
    text = c.print_table(
        f"model=auto vs FLAML in a time budget, {args.repeats} repeat(s) (median [min-max])",
        ["budget s", "data", "load", "auto wall / T", "auto test", "FLAML wall / T",
         "FLAML test", "load avg (1 min) at start"],
        rows,
    )  # fmt: skip
    result = {
        "benchmark": "budget",
        "settings": {
            "budgets": args.budgets,
            "data": args.data,
            "loads": args.loads,
            "repeats": args.repeats,
            "flaml_n_jobs": args.flaml_n_jobs,
        },
        "versions": {
            "automl": c.local_versions(["automl", "optuna", "xgboost", "scikit-learn", "torch"]),
            **({"flaml": c.env_versions(py, env.packages)} if py is not None else {}),
        },
        "machine": c.machine_info(),
        "summary": summary,
        "table_markdown": text,
        "runs": runs,
    }
    c.write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
