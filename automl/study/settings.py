"""The checks of ``sweep.workers``, ``sweep.gpus_per_trial``, ``sweep.trials_per_gpu``,
``sweep.worker_restarts``, ``sweep.slurm.*`` and ``sweep.ray.*``: one line each, exit 2
(``sweep.launcher`` and ``sweep.slurm.executor`` are enums Hydra checks when it composes the
config)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from automl.core.errors import UserError

if TYPE_CHECKING:
    from automl.study.config import SweepConfig

__all__ = ["check_settings"]


def check_settings(sweep: SweepConfig) -> None:
    """Raise ``UserError`` for a scale-out setting out of its range."""
    for name, low in (("workers", 1), ("gpus_per_trial", 0), ("trials_per_gpu", 1)):
        value = getattr(sweep, name)
        if value < low:
            raise UserError(f"sweep.{name}={value} must be >= {low}")
    if sweep.worker_restarts < 0:
        raise UserError(f"sweep.worker_restarts={sweep.worker_restarts} must be >= 0")
    slurm = sweep.slurm
    if slurm.time < 1 or slurm.cpus < 1 or slurm.gpus < 0:
        raise UserError(
            f"sweep.slurm.time={slurm.time} (minutes), sweep.slurm.cpus={slurm.cpus} and "
            f"sweep.slurm.gpus={slurm.gpus}: time and cpus must be >= 1, gpus >= 0"
        )
    ray = sweep.ray
    if not ray.num_cpus > 0 or ray.num_gpus < 0 or (ray.num_gpus > 1 and ray.num_gpus % 1):
        raise UserError(
            f"sweep.ray.num_cpus={ray.num_cpus} and sweep.ray.num_gpus={ray.num_gpus}: cpus must "
            "be > 0, gpus >= 0 and either a fraction of one GPU (0.5: two trials per GPU) or a "
            "whole number"
        )
    if ray.address is not None and not str(ray.address).strip():
        raise UserError(
            "sweep.ray.address is empty: give the cluster's address (ray://head:10001, "
            "head:6379 or auto), or null to start a local cluster for the run"
        )
