"""Shared helpers of the peer benchmarks: peer virtual environments, timing, statistics, output.

Each peer tool runs in its own virtual environment under ``benchmarks/.envs/<peer>`` (git-ignored),
created on first use with the pip commands in ``PEER_ENVS`` (printed as they run, and listed in
``docs/benchmarks.md``). torch is installed first, pinned to the version automl uses, so no
later requirement pulls a different (multi-GB CUDA) build. The automl side of every comparison
runs with the interpreter that runs the benchmark script.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS_DIR = HERE / "peers"
DEFAULT_ENV_ROOT = HERE / ".envs"
DEFAULT_WORK = HERE / ".work"

__all__ = [
    "HERE",
    "REPO",
    "PEERS_DIR",
    "PeerEnv",
    "peer_env",
    "ensure_env",
    "env_versions",
    "local_versions",
    "Timed",
    "run_timed",
    "summary",
    "print_table",
    "write_json",
    "export_split",
    "machine_info",
    "common_args",
    "thread_env",
    "fresh_dir",
]


def _v(name: str) -> str:
    """Installed version of ``name`` in this interpreter."""
    return metadata.version(name)


@dataclass(frozen=True)
class PeerEnv:
    """A peer tool's virtual environment: where it lives and the pip commands that build it.

    Attributes:
        name: Directory name under the env root.
        steps: Package lists, one ``pip install`` each, in order.
        packages: Distributions whose versions the results record.
    """

    name: str
    steps: tuple[tuple[str, ...], ...]
    packages: tuple[str, ...]


def peer_env(name: str) -> PeerEnv:
    """The environment recipe of a peer, pinned to the versions automl runs with here.

    ``optuna-lightning``: plain Optuna + Lightning with optuna-integration's pruning callback
    (the callback subclasses ``lightning.pytorch.Callback``, so the ``lightning`` package of the
    same version as ``pytorch-lightning`` is installed too). ``hydra-optuna``: Hydra's Optuna
    sweeper, which pins ``optuna<3`` (pip picks the version), and Hydra's joblib launcher (jobs
    in parallel processes). ``flaml``: ``flaml[automl]``,
    which requires ``xgboost<3``; no torch needed there. ``autogluon``: ``autogluon.tabular``
    with LightGBM, CatBoost and XGBoost, over the pinned CPU torch (its neural net).
    """
    torch = (f"torch=={_v('torch').split('+')[0]}",)
    pl = _v("pytorch-lightning")
    if name == "optuna-lightning":
        return PeerEnv(
            name,
            (
                torch,
                (
                    f"optuna=={_v('optuna')}",
                    f"optuna-integration=={_v('optuna')}",
                    f"pytorch-lightning=={pl}",
                    f"lightning=={pl}",
                    f"numpy=={_v('numpy')}",
                ),
            ),
            ("torch", "optuna", "optuna-integration", "pytorch-lightning", "lightning", "numpy"),
        )
    if name == "hydra-optuna":
        return PeerEnv(
            name,
            (
                torch,
                (
                    f"hydra-core=={_v('hydra-core')}",
                    "hydra-optuna-sweeper",
                    "hydra-joblib-launcher",
                    f"numpy=={_v('numpy')}",
                ),
            ),
            (
                "torch",
                "hydra-core",
                "hydra-optuna-sweeper",
                "hydra-joblib-launcher",
                "joblib",
                "optuna",
                "numpy",
                "sqlalchemy",
            ),
        )
    if name == "flaml":
        return PeerEnv(
            name,
            (("flaml[automl]", f"scikit-learn=={_v('scikit-learn')}"),),
            ("flaml", "xgboost", "lightgbm", "scikit-learn", "numpy", "pandas", "scipy"),
        )
    if name == "autogluon":
        return PeerEnv(
            name,
            (
                torch,
                # Its default model list's boosters, and torch for its neural net; FastAI's
                # tabular net is left out: fastai requires torchvision, whose PyPI build is
                # made against the CUDA torch (AutoGluon skips a model whose package is absent).
                ("autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3",),
            ),
            (
                "autogluon.tabular",
                "autogluon.core",
                "torch",
                "lightgbm",
                "catboost",
                "xgboost-cpu",
                "scikit-learn",
                "numpy",
                "pandas",
            ),
        )
    raise ValueError(
        f"unknown peer {name!r}; known: optuna-lightning, hydra-optuna, flaml, autogluon"
    )


def _python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def env_commands(env: PeerEnv, root: Path) -> list[list[str]]:
    """The exact commands that create ``env`` under ``root`` (venv, then one pip call a step)."""
    target = root / env.name
    py = str(_python(target))
    cmds = [[sys.executable, "-m", "venv", str(target)]]
    cmds += [[py, "-m", "pip", "install", "-q", *step] for step in env.steps]
    return cmds


def ensure_env(env: PeerEnv, root: Path = DEFAULT_ENV_ROOT) -> Path:
    """Create the peer's virtual environment unless it exists with the same recipe.

    Returns:
        The environment's python executable.
    """
    target = root / env.name
    stamp = target / ".benchmark-recipe.json"
    recipe = json.dumps([list(s) for s in env.steps])
    if stamp.exists() and stamp.read_text() == recipe:
        return _python(target)
    print(f"creating peer environment {target}:", flush=True)
    for cmd in env_commands(env, root):
        print("  $ " + shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    stamp.write_text(recipe)
    return _python(target)


def env_versions(python: Path, packages: Sequence[str]) -> dict[str, str]:
    """Versions of ``packages`` in the environment of ``python`` (missing ones skipped)."""
    code = (
        "import json,sys\nfrom importlib import metadata\nout={}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n]=metadata.version(n)\n"
        "    except metadata.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(python), "-c", code, *packages], check=True, capture_output=True, text=True
    )
    versions = json.loads(done.stdout)
    versions["python"] = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return versions


def local_versions(packages: Sequence[str]) -> dict[str, str]:
    """Versions of ``packages`` in this interpreter (the automl side)."""
    out = {}
    for name in packages:
        try:
            out[name] = _v(name)
        except metadata.PackageNotFoundError:
            pass
    out["python"] = platform.python_version()
    return out


@dataclass
class Timed:
    """One timed subprocess: wall seconds, CPU seconds, exit code, load averages, output's tail.

    ``cpu_s`` is the user plus system time of the process and the children it waited for
    (``os.wait4``): with two runs side by side, it says how much of the machine each got.
    """

    wall_s: float
    returncode: int
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]
    started_at: float
    tail: str = field(repr=False, default="")
    cpu_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "returncode": self.returncode,
            "load_start": list(self.load_start),
            "load_end": list(self.load_end),
        }


def run_timed(
    cmd: Sequence[str],
    cwd: Path | None = None,
    timeout: float | None = None,
    log: Path | None = None,
    extra_env: dict[str, str] | None = None,
    check: bool = True,
) -> Timed:
    """Run ``cmd`` to completion and time it (wall clock, process start to exit).

    Output goes to ``log`` (or is kept in memory) so a failure can be shown; a non-zero exit
    raises with the output's tail unless ``check`` is false. ``extra_env`` is added to this
    process's environment; past ``timeout`` seconds the process is killed and
    ``subprocess.TimeoutExpired`` raised.
    """
    import tempfile

    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    with tempfile.TemporaryFile(mode="w+") as out:
        load_start = os.getloadavg()
        started_at = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        if timeout is not None:
            try:
                proc.wait(timeout)  # reaps it; wait4 below then has nothing to collect
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
            status, cpu = proc.returncode, None
        else:
            # wait4 reaps the process and gives its own resource use (not this process's).
            _, raw, usage = os.wait4(proc.pid, 0)
            status, cpu = os.waitstatus_to_exitcode(raw), usage.ru_utime + usage.ru_stime
            proc.returncode = status
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
    tail = text[-3000:]
    if check and status != 0:
        raise RuntimeError(f"command failed ({status}): {shlex.join(cmd)}\n{tail}")
    return Timed(wall, status, load_start, os.getloadavg(), started_at, tail, cpu)


def summary(values: Sequence[float | None]) -> dict[str, float | None]:
    """Median, min and max of the values that are not ``None``."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt(stat: dict[str, Any], digits: int = 1) -> str:
    """``median [min-max]`` of a ``summary``; ``-`` when empty."""
    if stat["median"] is None:
        return "-"
    m, lo, hi = stat["median"], stat["min"], stat["max"]
    if stat["n"] == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}-{hi:.{digits}f}]"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Print (and return) a Markdown table, so it pastes straight into the docs."""
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---" for _ in header) + " |")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_at_write": list(os.getloadavg()),
    }


def write_json(path: Path | None, result: dict[str, Any]) -> None:
    """Write the result document (creating the folder)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"results written to {path}")


def export_split(
    data: str, path: Path, plugin: str | None = None, config: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write automl's split of a data set to ``path`` (npz) so peers train on it.

    The split is automl's own (``automl.data.load_dataset`` with the default ``DataConfig``:
    seed 0, stratified 60/20/20, inputs standardized with training statistics), so every tool
    sees exactly the same train, validation and test samples.

    Args:
        data: The data set's name (the built-in data plugin of that name by default).
        path: Where the npz file goes.
        plugin: Another data plugin to load it with (``npz`` for a generated table).
        config: Settings of that plugin's config (``{"path": ..., "task": ...}``).

    Returns:
        Sizes and the data description.
    """
    import numpy as np

    from automl.core.registry import discover_data
    from automl.data import load_dataset

    found = discover_data().get(plugin or data)
    cfg = found.config()
    for key, value in (config or {}).items():
        setattr(cfg, key, value)
    ds = load_dataset(found, cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        x_train=ds.train.x,
        y_train=ds.train.y,
        x_val=ds.val.x,
        y_val=ds.val.y,
        x_test=ds.test.x,
        y_test=ds.test.y,
    )
    return {
        "data": data,
        "task": ds.spec.task,
        "train": len(ds.train),
        "val": len(ds.val),
        "test": len(ds.test),
        "input_shape": list(ds.spec.input_shape),
        "n_classes": ds.spec.n_classes,
    }


def fresh_dir(path: Path) -> Path:
    """An empty folder at ``path`` (a previous run's results there are removed)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def thread_env(threads: int) -> dict[str, str]:
    """Environment that caps torch's (OpenMP's) intra-op threads; empty for 0 (the default)."""
    if threads <= 0:
        return {}
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def common_args(parser: Any, repeats: int = 3) -> None:
    """Arguments every comparison takes."""
    parser.add_argument("--repeats", type=int, default=repeats, help="runs of each variant")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--env-root",
        type=Path,
        default=DEFAULT_ENV_ROOT,
        help="where peer virtual environments are created (default benchmarks/.envs)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=DEFAULT_WORK,
        help="scratch folder for run directories and logs (default benchmarks/.work)",
    )
    parser.add_argument(
        "--print-env-commands",
        action="store_true",
        help="print the pip commands that create the peer environments and exit",
    )
