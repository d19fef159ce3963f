"""Which GPUs a worker sees: counting GPUs without torch, and packing workers onto them.

The parent process never imports torch (seconds of start-up, and a CUDA context on the first
GPU for the whole study): it asks the CUDA driver through ``ctypes`` (as the XGBoost plugin
does), or ``nvidia-smi -L`` where the driver library cannot be loaded. Each worker is then
started with ``CUDA_VISIBLE_DEVICES`` set to its slot's devices.

A slot group is ``sweep.gpus_per_trial`` GPUs; it holds up to ``sweep.trials_per_gpu`` workers
at once. Workers are spread over groups first (one per GPU before any GPU gets a second), and
a group whose trial ran out of memory holds one worker fewer for the rest of the study. On a
machine without GPUs the same code runs with one group, no devices, and room for every worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from automl.core.errors import UserError
from automl.core.gpus import driver_gpu_count

__all__ = ["visible_gpus", "DevicePool", "SlotGroup", "assign_devices", "make_pool"]


def _smi_count() -> int:
    """GPUs ``nvidia-smi -L`` lists (all of the machine's; 0 without the tool)."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return 0
    try:
        out = subprocess.run([tool, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines())


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` entries (``[]``: none).

    Inside a SLURM job (or any process started with ``CUDA_VISIBLE_DEVICES``) the entries are
    the ones already set, so a worker's pinning stays within the job's GPUs.
    """
    count = driver_gpu_count()
    if count is None:
        count = _smi_count()
    if count <= 0:
        return []
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is None:
        return [str(i) for i in range(count)]
    entries = [e.strip() for e in given.split(",") if e.strip()]
    return entries[:count]


@dataclass
class SlotGroup:
    """GPUs that one trial uses together, and how many workers may share them.

    Attributes:
        devices: The ``CUDA_VISIBLE_DEVICES`` value of its workers; ``None`` on a machine
            without GPUs (the environment is left as it is).
        capacity: Workers it holds at once.
        used: Workers it holds now.
        outside: Its devices are shared with workers outside this pool (a Ray actor given a
            fraction of a GPU): an out-of-memory trial is re-run, as on a shared slot.
    """

    devices: str | None
    capacity: int
    used: int = 0
    outside: bool = False


class DevicePool:
    """Slot groups and who holds them; the parent's one place for device decisions.

    Args:
        groups: The slot groups (see ``make_pool``).
    """

    def __init__(self, groups: Sequence[SlotGroup]) -> None:
        self.groups = list(groups)

    @property
    def capacity(self) -> int:
        """Workers the pool holds at once."""
        return sum(g.capacity for g in self.groups)

    def free(self) -> int:
        """Slots not held now."""
        return sum(max(g.capacity - g.used, 0) for g in self.groups)

    def acquire(self) -> int | None:
        """Take a slot in the least used group with room (ties: the first); ``None``: full."""
        open_groups = [i for i, g in enumerate(self.groups) if g.used < g.capacity]
        if not open_groups:
            return None
        best = min(open_groups, key=lambda i: (self.groups[i].used, i))
        self.groups[best].used += 1
        return best

    def release(self, group: int) -> None:
        """Give a slot of ``group`` back (its worker exited)."""
        self.groups[group].used = max(self.groups[group].used - 1, 0)

    def shared(self, group: int) -> bool:
        """Whether workers of ``group`` share it with others (here, or outside the pool)."""
        return self.groups[group].capacity > 1 or self.groups[group].outside

    def shrink(self, group: int) -> bool:
        """One worker fewer on ``group`` from now on (never below one); whether it shrank."""
        g = self.groups[group]
        if g.capacity <= 1:
            return False
        g.capacity -= 1
        return True


def make_pool(
    workers: int, gpus: Sequence[str], gpus_per_trial: int = 1, trials_per_gpu: int = 1
) -> DevicePool:
    """The slot groups for ``workers`` workers over the GPUs ``gpus``.

    Without GPUs (or with ``gpus_per_trial=0``) there is one group with no devices and room
    for every worker. With GPUs, each ``gpus_per_trial`` consecutive GPUs form a group of
    ``trials_per_gpu`` slots; GPUs left over (fewer than ``gpus_per_trial``) are not used.

    Raises:
        UserError: A trial needs more GPUs than the machine has, or a setting is below its
            minimum.
    """
    if workers < 1 or trials_per_gpu < 1 or gpus_per_trial < 0:
        raise UserError(
            f"sweep.workers={workers}, sweep.trials_per_gpu={trials_per_gpu} and "
            f"sweep.gpus_per_trial={gpus_per_trial}: workers and trials per GPU must be >= 1, "
            "GPUs per trial >= 0 (0: pin no GPU)"
        )
    if not gpus or gpus_per_trial == 0:
        return DevicePool([SlotGroup(None, workers)])
    if gpus_per_trial > len(gpus):
        raise UserError(
            f"sweep.gpus_per_trial={gpus_per_trial} but this machine has {len(gpus)} GPU(s) "
            f"({','.join(gpus)}); ask for at most {len(gpus)}, or 0 to pin none"
        )
    groups = [
        SlotGroup(",".join(gpus[i : i + gpus_per_trial]), trials_per_gpu)
        for i in range(0, len(gpus) - gpus_per_trial + 1, gpus_per_trial)
    ]
    return DevicePool(groups)


def assign_devices(
    workers: int, gpus: int | Sequence[str], gpus_per_trial: int = 1, trials_per_gpu: int = 1
) -> list[str | None]:
    """Which devices each worker gets: ``CUDA_VISIBLE_DEVICES`` values, in start order.

    Args:
        workers: Workers asked for (``sweep.workers``).
        gpus: The GPU count, or the visible GPUs' ids.
        gpus_per_trial: GPUs per worker; 0 pins none.
        trials_per_gpu: Workers that may share one group of GPUs.

    Returns:
        One entry per worker that fits: on a machine without GPUs ``[None] * workers``; with
        GPUs at most as many entries as there are slots (``gpus // gpus_per_trial *
        trials_per_gpu``), spread one per group before any group gets a second.

    Example:
        ``assign_devices(2, 1, trials_per_gpu=2) == ["0", "0"]`` and
        ``assign_devices(3, 4, gpus_per_trial=2) == ["0,1", "2,3"]``.
    """
    ids = [str(i) for i in range(gpus)] if isinstance(gpus, int) else list(gpus)
    pool = make_pool(workers, ids, gpus_per_trial, trials_per_gpu)
    out: list[str | None] = []
    for _ in range(workers):
        group = pool.acquire()
        if group is None:
            break
        out.append(pool.groups[group].devices)
    return out
