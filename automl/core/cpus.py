"""How many CPUs this process may use, and how many threads each trial trains with.

torch (and OpenMP, which XGBoost and BLAS use) start one thread per core of the *host*: in a
container or a SLURM job limited to 2 of 64 cores that is 64 threads fighting over 2 cores,
and two trials side by side on a 2-core machine run 4 threads on 2 cores. Threads that wait
for a descheduled partner at every parallel region cost far more than they gain
(docs/benchmarks.md, "Threads").

So a trial's intra-op threads default to the CPUs this process may use (its affinity mask,
and a cgroup CPU quota: ``cpu.max`` in cgroup v2, ``cpu.cfs_quota_us`` in v1) divided by
the trials running at once on this machine (``sweep.workers`` local workers; 1 otherwise),
and divided again by how busy the machine was while this process started
(``automl.core.budget.startup_contention``: wall seconds per CPU second of its start-up,
about 1 when idle, 1.5 beside one CPU hog per core, 2 beside a second study): other
processes hold part of the CPUs too, and threads that wait for a descheduled partner cost
more than they gain. Rounded, between 1 and ``DEFAULT_MAX_THREADS``; decided once per
process. ``trainer.num_threads`` overrides it. The measurements behind this rule are in
docs/benchmarks.md ("Threads"). This module decides the number; the backends apply it
(torch's ``set_num_threads``, an OpenMP/BLAS limit around an estimator's fit) and the header
says it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = [
    "usable_cpus",
    "cgroup_cpu_limit",
    "trials_at_once",
    "trial_threads",
    "TRIALS_ENV",
    "DEFAULT_MAX_THREADS",
]

TRIALS_ENV = "AUTOML_TRIALS_AT_ONCE"
"""A worker's environment: how many trials its parent runs at once on this machine."""

DEFAULT_MAX_THREADS = 4
"""At most this many threads per trial by default: the built-in models are small (digits,
tables), and beyond a few threads their parallel regions cost more in synchronization than
they save (docs/benchmarks.md, "Threads"). ``trainer.num_threads`` sets more."""

_CGROUP = Path("/sys/fs/cgroup")


def _v2_limit(root: Path, own: str) -> float | None:
    """The smallest ``cpu.max`` quota on the path from this process's cgroup to the root."""
    limit: float | None = None
    path = (root / own.lstrip("/")).resolve() if own else root
    while True:
        try:
            quota, period = (path / "cpu.max").read_text().split()[:2]
            if quota != "max" and float(period) > 0:
                cpus = float(quota) / float(period)
                limit = cpus if limit is None else min(limit, cpus)
        except (OSError, ValueError):
            pass
        if path == root or root not in path.parents:
            return limit
        path = path.parent


def _v1_limit(root: Path, own: str) -> float | None:
    """``cpu.cfs_quota_us / cpu.cfs_period_us`` of this process's v1 ``cpu`` cgroup."""
    for name in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
        base = root / name
        for path in (base / own.lstrip("/"), base):
            try:
                quota = float((path / "cpu.cfs_quota_us").read_text())
                period = float((path / "cpu.cfs_period_us").read_text())
            except (OSError, ValueError):
                continue
            if quota > 0 and period > 0:
                return quota / period
            return None
    return None


def cgroup_cpu_limit(root: Path = _CGROUP, proc_cgroup: str = "/proc/self/cgroup") -> float | None:
    """CPUs the cgroup quota allows this process (``1.5`` for 150 ms per 100 ms), or ``None``
    when there is no quota (or no cgroup file system).

    Args:
        root: Where the cgroup file system is mounted.
        proc_cgroup: This process's cgroup membership file.
    """
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        lines = []
    v2 = next((line.split(":", 2)[2] for line in lines if line.startswith("0::")), None)
    v1 = next(
        (
            line.split(":", 2)[2]
            for line in lines
            if line.count(":") >= 2 and "cpu" in line.split(":", 2)[1].split(",")
        ),
        None,
    )
    if (root / "cpu.max").exists() or v2 is not None and v1 is None:
        return _v2_limit(root, v2 or "")
    return _v1_limit(root, v1 or "")


def usable_cpus(root: Path = _CGROUP, proc_cgroup: str = "/proc/self/cgroup") -> int:
    """CPUs this process may use: its affinity mask (a SLURM job's or ``taskset``'s cores),
    lowered to a cgroup quota (rounded up: 1.5 CPUs of quota keep 2 threads busy), at
    least 1."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root, proc_cgroup)
    if limit is not None:
        cpus = min(cpus, math.ceil(limit - 1e-9))
    return max(cpus, 1)


def trials_at_once() -> int:
    """Trials running at once on this machine: what the parent said (``TRIALS_ENV``), else 1."""
    try:
        return max(int(os.environ.get(TRIALS_ENV, "1")), 1)
    except ValueError:
        return 1


def trial_threads(num_threads: int = 0, trials: int | None = None) -> int:
    """Intra-op threads for one trial: ``num_threads`` (``trainer.num_threads``) when set,
    else the usable CPUs divided by the trials at once (``trials``, by default
    ``trials_at_once()``) and by the start-up's contention, rounded, between 1 and
    ``DEFAULT_MAX_THREADS``."""
    if num_threads and num_threads > 0:
        return int(num_threads)
    from automl.core.budget import startup_contention

    at_once = trials if trials is not None else trials_at_once()
    share = usable_cpus() / max(at_once, 1) / startup_contention()
    return max(1, min(round(share), DEFAULT_MAX_THREADS))
