"""``model=auto`` (one study across model families) vs FLAML and AutoGluon at equal wall time.

For each data set, repeat (seed) and time budget T:

- ``auto``: ``python -m automl model=auto data=<set> sweep.timeout=T sweep.n_trials=100000
  sweep.seed=<repeat> trainer.num_threads=1``: every installed plugin that fits the data,
  defaults first, TPE, the median pruner within each family, with model=auto's default
  protocol on small data: one 20 % validation split when T is below 120 s, otherwise each
  trial judged on the mean of 5 folds of the 80 % non-test rows and the chosen configuration
  refit on all of them (``automl.study.run.AUTO_FOLDS_MIN_TIMEOUT``). ``sweep.timeout`` bounds
  the whole command, start-up to exit (``automl.core.budget``).
- ``auto-holdout``: the same with ``data.folds=0``: trials train on 60 % and are judged on one
  20 % validation split at any budget.
- ``auto-folds``: the same with ``data.folds=5``: 5 folds and a refit at any budget.
- ``auto-recheck``: ``auto`` with ``sweep.recheck_top=3``: after the search the top 3
  configurations are trained twice more with other seeds and the best mean is exported.
- ``flaml``: FLAML ``AutoML(n_jobs=1)`` with its default estimator list, given the same
  80 % non-test rows (it validates internally and retrains the winner on them;
  ``benchmarks/peers/flaml_run.py``).
- ``autogluon``: AutoGluon ``TabularPredictor.fit(presets="medium_quality", num_cpus=1)`` on
  the same 80 % (``benchmarks/peers/autogluon_run.py``).

**Equal wall time, measured outside.** Every run is timed by this script from its launch to
its exit, and each gets T seconds of it. automl's ``sweep.timeout=T`` bounds its whole
command. A peer gets a deadline (launch + T): its search budget (FLAML's ``time_budget``,
AutoGluon's ``time_limit``) is what is left of T after its imports and the data, less a
reserve for what follows the search (FLAML's retrain, the test, the exit). The reserve starts
at ``--reserve`` and is then calibrated per peer and data set: the median, over its earlier
runs there, of the reserve that would have ended the run exactly at T.

**Schedule.** ``paired`` (the default): for each repeat, automl and one peer are started at
the same moment, one single-threaded process per core of a 2-core machine, so both see the
same load; with two peers, automl runs once beside each (the pairs' order rotates per
repeat). ``sequential``: one run at a time, the order rotating per repeat. Each run's 1-minute
load average at its start and end is recorded. Before the first run every side's packages are
imported once, untimed, so that no measured run pays for a cold page cache.

Every side is tested once on the same 20 % test rows (automl's seeded stratified split):
accuracy for classification, RMSE for regression (diabetes). Data: breast cancer, wine,
diabetes, and ``make_classification`` tables (``synth3``: 3 classes, 2,000 rows, 20 features;
``synth5``: 5 classes, 3,000 rows, 20 features), written as npz files.

    nice -n 5 python benchmarks/auto_vs_flaml.py --budget 30 --repeats 5 \\
        --variants auto,flaml,autogluon --json benchmarks/results/auto_vs_flaml_30.json

Reported per data set and side: median [min-max] of the test metric, trials (AutoGluon:
models fitted), wall seconds, CPU seconds (user + system, the process and its children) and
load; for automl beside a peer, in how many repeats it beat,
tied or trailed that peer's test metric.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

PEERS = ("flaml", "autogluon")
VARIANTS = ("auto", "auto-holdout", "auto-folds", "auto-recheck", *PEERS)
DEFAULT_VARIANTS = ("auto", "flaml")
SCHEDULES = ("paired", "sequential")
# What each automl variant adds to the command line (the protocol it fixes).
VARIANT_OVERRIDES = {
    "auto": [],
    "auto-holdout": ["data.folds=0"],
    "auto-folds": ["data.folds=5"],
    # model=auto's default protocol, then the top 3 trained twice more and chosen on the mean.
    "auto-recheck": ["sweep.recheck_top=3"],
}
DATA = ("breast_cancer", "wine", "diabetes", "synth3", "synth5")
SYNTH = {"synth3": (2000, 3, 1), "synth5": (3000, 5, 2)}  # rows, classes, generator seed


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=30.0, help="seconds of search per run")
    p.add_argument("--data", default=",".join(DATA), help="comma-separated data sets")
    p.add_argument(
        "--variants",
        default=",".join(DEFAULT_VARIANTS),
        help=f"comma-separated variants of {', '.join(VARIANTS)}",
    )
    p.add_argument("--flaml-n-jobs", type=int, default=1, help="FLAML's n_jobs (default 1)")
    p.add_argument("--autogluon-presets", default="medium_quality", help="AutoGluon's presets")
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="paired",
        help="paired: an automl variant and a peer started at the same moment, one core "
        "each; sequential: one run at a time",
    )
    p.add_argument(
        "--resummarize",
        type=Path,
        default=None,
        help="recompute the summary and table of a results file from its runs (rewrites it)",
    )
    p.add_argument(
        "--reserve",
        type=float,
        default=1.0,
        help="seconds a peer keeps for after its search on its first run of a data set "
        "(later runs: calibrated from its earlier walls, so the walls match the budget)",
    )
    c.common_args(p)
    args = p.parse_args(argv)
    args.data = [d.strip() for d in args.data.split(",") if d.strip()]
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if set(args.variants) - set(VARIANTS) or set(args.data) - set(DATA):
        p.error(f"variants: {', '.join(VARIANTS)}; data: {', '.join(DATA)}")
    peers = set(args.variants) & set(PEERS)
    if args.schedule == "paired" and (not peers or peers == set(args.variants)):
        p.error("--schedule paired needs an automl variant and a peer (flaml, autogluon)")
    return args


def _synth_file(name: str, work: Path) -> Path:
    """A ``make_classification`` table as an npz file (``data=npz data.path=...``)."""
    import numpy as np
    from sklearn.datasets import make_classification

    rows, classes, seed = SYNTH[name]
    x, y = make_classification(
        n_samples=rows,
        n_features=20,
        n_informative=10,
        n_redundant=4,
        n_classes=classes,
        n_clusters_per_class=2,
        flip_y=0.03,
        random_state=seed,
    )
    path = work / "auto_vs_flaml" / f"{name}_source.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.int64))
    return path


def _data_args(data: str, work: Path) -> list[str]:
    if data in SYNTH:
        return ["data=npz", f"data.path={_synth_file(data, work)}", "data.task=classification"]
    return [f"data={data}"]


def export_split(data: str, work: Path, path: Path) -> dict[str, Any]:
    """automl's own split of ``data`` (seeded, stratified 60/20/20, standardized), as npz."""
    if data in SYNTH:
        synth = str(_synth_file(data, work))
        return c.export_split(data, path, "npz", {"path": synth, "task": "classification"})
    return c.export_split(data, path)


def _peer_command(
    variant: str,
    data: str,
    npz: Path,
    task: str,
    rep: int,
    args: argparse.Namespace,
    py: Path,
    work: Path,
    reserve: float,
) -> list[str]:
    """The command of one FLAML or AutoGluon run (without its ``--deadline``, added at launch)."""
    common = ["--data", str(npz), "--budget", str(args.budget), "--task", task]
    common += [
        "--seed",
        str(rep),
        "--reserve",
        f"{reserve:.3f}",
        "--out",
        str(work / "result.json"),
    ]
    if variant == "flaml":
        script = c.PEERS_DIR / "flaml_run.py"
        extra = ["--n-jobs", str(args.flaml_n_jobs), "--log", str(work / "flaml.log")]
    else:
        script = c.PEERS_DIR / "autogluon_run.py"
        extra = ["--presets", args.autogluon_presets, "--num-cpus", "1"]
        extra += ["--path", str(work / "models")]
    return [str(py), str(script), *common, *extra]


def _automl_command(variant: str, data: str, rep: int, args: argparse.Namespace, work: Path,
                    study: str) -> list[str]:  # fmt: skip
    return [
        sys.executable,
        "-m",
        "automl",
        "model=auto",
        *_data_args(data, args.work),
        f"sweep.timeout={args.budget:g}",
        "sweep.n_trials=100000",
        f"sweep.seed={rep}",
        f"sweep.study_name={study}",
        "sweep.live=false",
        "sweep.report=false",
        # One thread, as FLAML's n_jobs=1 and AutoGluon's num_cpus=1: the same compute.
        "trainer.num_threads=1",
        f"hydra.run.dir={work}",
        *VARIANT_OVERRIDES[variant],
    ]


def _read_automl(work: Path, study: str) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        s = optuna.load_study(study_name=study, storage=f"sqlite:///{work / 'study.db'}")
    except Exception as exc:  # noqa: BLE001 - a run that left no study is a result too
        return {"error": f"no study: {exc}", "n_trials": 0}
    families: dict[str, dict[str, int]] = {}
    for t in s.trials:
        fam = families.setdefault(str(t.params.get("family")), {})
        fam[t.state.name.lower()] = fam.get(t.state.name.lower(), 0) + 1
    done = [t for t in s.trials if t.state.name == "COMPLETE"]
    test = s.user_attrs.get("best_test_metrics", {})
    best = s.best_trial if done else None
    return {
        "best_value": s.best_value if done else None,
        "test_acc": test.get("test_acc"),
        "test_rmse": test.get("test_rmse"),
        "n_trials": sum(t.state.name in ("COMPLETE", "PRUNED") for t in s.trials),
        "family_trials": families,
        "best_family": best.params.get("family") if best else None,
        "best_params": best.params if best else None,
    }


class Launch:
    """One run of one side: its command, folder and how its result is read."""

    def __init__(self, variant: str, data: str, rep: int, args: argparse.Namespace, ctx: dict):
        self.variant, self.data, self.rep = variant, data, rep
        tag = ctx.get("tag", "")
        self.work = c.fresh_dir(
            args.work
            / "auto_vs_flaml"
            / data
            / f"b{args.budget:g}"
            / f"rep{rep}"
            / f"{variant}{tag}"
        )
        self.reserve: float | None = None
        if variant in PEERS:
            self.reserve = ctx["reserve"]
            self.cmd = _peer_command(
                variant, data, ctx["npz"], ctx["task"], rep, args, ctx["py"][variant], self.work,
                self.reserve,
            )  # fmt: skip
        else:
            self.study = f"bench-auto-{data}-rep{rep}-{time.time_ns()}"
            self.cmd = _automl_command(variant, data, rep, args, self.work, self.study)
        self.budget = args.budget

    def run(self) -> dict[str, Any]:
        """Launch, wait, read; the deadline of a peer is set at its launch (launch + budget)."""
        cmd = list(self.cmd)
        if self.variant in PEERS:
            cmd += ["--deadline", f"{time.time() + self.budget:.3f}"]
        timed = c.run_timed(cmd, log=self.work / "log.txt", check=False)
        row: dict[str, Any] = {"command": shlex.join(self.cmd), **timed.as_dict()}
        row["started_at"] = timed.started_at
        if self.variant in PEERS:
            out = self.work / "result.json"
            if timed.returncode == 0 and out.exists():
                row.update(json.loads(out.read_text()))
            else:
                row.update(error=timed.tail[-1500:], n_trials=0)
        else:
            row.update(_read_automl(self.work, self.study))
            if timed.returncode != 0:
                row["error"] = timed.tail[-1500:]
        return row


def _run_together(launches: list[Launch]) -> list[dict[str, Any]]:
    """Start the runs at the same moment (one thread waits on each) and return their rows."""
    with ThreadPoolExecutor(max_workers=len(launches)) as pool:
        return list(pool.map(Launch.run, launches))


def _score(row: dict[str, Any], task: str) -> float | None:
    return row.get("test_acc") if task == "classification" else row.get("test_rmse")


def _schedule(args: argparse.Namespace, rep: int) -> list[list[tuple[str, str]]]:
    """The groups of (variant, tag) run at one moment for repeat ``rep``, in order.

    Sequential: one variant a group, the order rotating per repeat. Paired: each automl
    variant beside each peer in turn (the pairs' order rotating), automl's run tagged by its
    peer.
    """
    k = rep % len(args.variants)
    order = args.variants[k:] + args.variants[:k]
    if args.schedule == "sequential":
        return [[(v, "")] for v in order]
    pairs = [[(a, f"-with-{p}"), (p, "")] for p in args.variants if p in PEERS
             for a in args.variants if a not in PEERS]  # fmt: skip
    k = rep % len(pairs)
    return pairs[k:] + pairs[:k]


def _reserve(history: list[float], first: float, budget: float) -> float:
    """A peer's reserve for its next run on a data set: the median of the reserves that would
    have ended its earlier runs there exactly at the budget (``first`` before any)."""
    if not history:
        return first
    return min(max(0.0, statistics.median(history)), budget / 2)


# What each side imports, run once before the measured runs (not timed): the first import of
# torch, XGBoost or AutoGluon from a cold page cache took up to 23 s of a 30 s budget here.
WARM_UP = {
    "automl": "import torch, pytorch_lightning, xgboost, sklearn.ensemble, optuna, automl",
    "flaml": "import flaml.automl, lightgbm, xgboost, sklearn.ensemble, pandas",
    "autogluon": "import autogluon.tabular, torch, lightgbm, catboost, xgboost",
}


def _warm_up(py: dict[str, Path]) -> None:
    """Import every side's packages once, so no measured run pays for a cold page cache."""
    for side, code in WARM_UP.items():
        if side == "automl" or side in py:
            c.run_timed([str(py.get(side, Path(sys.executable))), "-c", code])


def main(argv=None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.resummarize is not None:
        return _resummarize(args.resummarize)
    envs = {v: c.peer_env(v) for v in PEERS if v in args.variants}
    if args.print_env_commands:
        for env in (envs or {"flaml": c.peer_env("flaml")}).values():
            for cmd in c.env_commands(env, args.env_root):
                print(shlex.join(cmd))
        return {}
    py = {v: c.ensure_env(env, args.env_root) for v, env in envs.items()}
    _warm_up(py)
    splits, runs = {}, []
    ideal: dict[tuple[str, str], list[float]] = {}
    for data in args.data:
        npz = args.work / "auto_vs_flaml" / f"{data}.npz"
        splits[data] = export_split(data, args.work, npz)
        task = splits[data]["task"]
        for rep in range(args.repeats):
            for group in _schedule(args, rep):
                launches = []
                for variant, tag in group:
                    history = ideal.setdefault((variant, data), [])
                    ctx = {"tag": tag, "npz": npz, "task": task, "py": py,
                           "reserve": _reserve(history, args.reserve, args.budget)}  # fmt: skip
                    launches.append(Launch(variant, data, rep, args, ctx))
                rows = _run_together(launches)
                for (variant, tag), launch, row in zip(group, launches, rows, strict=True):
                    row.update(variant=variant, data=data, repeat=rep, task=task)
                    row["paired_with"] = tag.removeprefix("-with-") or None
                    if launch.reserve is not None and "error" not in row:
                        # The reserve that would have made this wall exactly the budget.
                        ideal[(variant, data)].append(launch.reserve + row["wall_s"] - args.budget)
                    score = _score(row, task)
                    print(
                        f"  {data} rep {rep} {variant + tag:<22} {row['wall_s']:6.1f} s  trials "
                        f"{row['n_trials']:>5}  test {'-' if score is None else f'{score:.4f}'}  "
                        f"load {row['load_start'][0]:.1f}->{row['load_end'][0]:.1f}  "
                        f"{row.get('family_trials') or row.get('estimator_trials')}"
                        + (f"  ERROR {row['error'][-300:]}" if "error" in row else ""),
                        flush=True,
                    )
                    runs.append(row)
    table, text = _summarize(args, splits, runs)
    versions = {
        "automl": c.local_versions(["automl", "optuna", "xgboost", "scikit-learn", "torch"])
    }
    for v, env in envs.items():
        versions[v] = c.env_versions(py[v], env.packages)
    result = {
        "benchmark": "auto_vs_flaml",
        "settings": {
            "budget_s": args.budget,
            "repeats": args.repeats,
            "data": splits,
            "variants": args.variants,
            "schedule": args.schedule,
            "flaml_n_jobs": args.flaml_n_jobs,
            "autogluon_presets": args.autogluon_presets,
            "first_reserve_s": args.reserve,
        },
        "peer_env_commands": {
            v: [shlex.join(x) for x in c.env_commands(env, args.env_root)]
            for v, env in envs.items()
        },
        "versions": versions,
        "machine": c.machine_info(),
        "summary": table,
        "table_markdown": text,
        "runs": runs,
    }
    c.write_json(args.json, result)
    return result


def _resummarize(path: Path) -> dict[str, Any]:
    """Recompute a results file's summary and table from its runs and settings."""
    result = json.loads(path.read_text())
    st = result["settings"]
    args = argparse.Namespace(
        data=list(st["data"]),
        variants=st["variants"],
        budget=st["budget_s"],
        repeats=st["repeats"],
        schedule=st.get("schedule", "sequential"),
    )
    result["summary"], result["table_markdown"] = _summarize(args, st["data"], result["runs"])
    c.write_json(path, result)
    return result


def _summarize(
    args: argparse.Namespace, splits: dict[str, Any], runs: list[dict[str, Any]]
) -> tuple[dict[str, Any], str]:
    """Median [min-max] per data set and side (automl per peer it ran beside, when paired),
    with the paired score: in how many repeats automl beat, tied or trailed that peer (a run
    that ended without a model loses its repeat; the medians are over the runs with one)."""
    table: dict[str, dict[str, Any]] = {}
    rows = []
    for data in args.data:
        task = splits[data]["task"]
        metric = "acc" if task == "classification" else "RMSE"
        # Each peer after the automl runs beside it, in the order of --variants.
        order = args.variants.index
        sides = sorted({(r["variant"], r["paired_with"]) for r in runs if r["data"] == data},
                       key=lambda s: (order(s[1] or s[0]), s[0] in PEERS, order(s[0])))  # fmt: skip
        for variant, with_ in sides:
            mine = [r for r in runs if r["data"] == data and r["variant"] == variant
                    and r["paired_with"] == with_]  # fmt: skip
            t: dict[str, Any] = {
                "test": c.summary([_score(r, task) for r in mine]),
                "n_trials": c.summary([r["n_trials"] for r in mine]),
                "wall_s": c.summary([r["wall_s"] for r in mine]),
                "cpu_s": c.summary([r.get("cpu_s") for r in mine]),
                "load": c.summary(
                    [x for r in mine for x in (r["load_start"][0], r["load_end"][0])]
                ),
                "errors": sum("error" in r for r in mine),
            }
            versus = "-"
            if variant not in PEERS and with_:
                wins = ties = losses = 0
                for r in mine:
                    peer = next((p for p in runs if p["data"] == data and p["variant"] == with_
                                 and p["repeat"] == r["repeat"]), None)  # fmt: skip
                    a, b = _score(r, task), _score(peer, task) if peer else None
                    if a is None and b is None:
                        continue
                    if a is None or b is None:  # a side without a model loses the repeat
                        wins, losses = wins + (b is None), losses + (a is None)
                        continue
                    # automl's accuracy is a float32 mean, FLAML's a float64 one: equal within
                    # a millionth is a tie (one test sample is at least 1/600 here).
                    if abs(a - b) <= 1e-6 * max(1.0, abs(b)):
                        ties += 1
                    elif (a > b) == (task == "classification"):
                        wins += 1
                    else:
                        losses += 1
                t["vs_peer"] = {"wins": wins, "ties": ties, "losses": losses}
                versus = f"{wins}/{ties}/{losses}"
            key = f"{data}/{variant}" + (f"/with-{with_}" if with_ else "")
            table[key] = t
            label = f"{variant} (beside {with_})" if with_ else variant
            rows.append([
                f"{data} ({splits[data]['test']})", label, f"{metric} {c.fmt(t['test'], 4)}",
                str(len(mine) - t["test"]["n"]), versus, c.fmt(t["n_trials"], 0),
                c.fmt(t["wall_s"], 1), c.fmt(t["cpu_s"], 1), c.fmt(t["load"], 1),
            ])  # fmt: skip
    text = c.print_table(
        f"model=auto / peers, {args.budget:g} s of wall time each, {args.repeats} seeds, "
        f"{args.schedule} (median [min-max])",
        ["data (test rows)", "side", "test metric", "runs without a model",
         "automl wins/ties/losses", "trials",
         "wall s", "CPU s", "load (1-min, start/end)"],
        rows,
    )  # fmt: skip
    return table, text


if __name__ == "__main__":
    main()
