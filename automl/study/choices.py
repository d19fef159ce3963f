"""The string choices of the sweep settings, as ``Enum`` types Hydra checks at compose time.

OmegaConf's structured configs check an ``Enum`` field when the config is composed (a
``Literal`` field is not supported), so ``sweep.sampler=tpee`` is refused before the task
starts, with the valid names, in one line (``automl.cli.argv.check_overrides``). Each choice
is a ``str`` as well: ``sweep.sampler == "tpe"``, ``f"{sweep.sampler}"`` and JSON give the
plain name, so code that reads the settings compares strings as before.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "StrChoice",
    "Engine",
    "Sampler",
    "Pruner",
    "Direction",
    "Resume",
    "Launcher",
    "SlurmExecutor",
    "names",
]


class StrChoice(str, Enum):
    """A named choice of a setting: a ``str`` whose text is its name (``str(x) == x.value``)."""

    def __str__(self) -> str:
        return str(self.value)


class Engine(StrChoice):
    """``sweep.engine``: ``optuna`` runs a study; ``none`` trains once with the defaults."""

    optuna = "optuna"
    none = "none"


class Sampler(StrChoice):
    """``sweep.sampler`` (docs/sweeps.md)."""

    tpe = "tpe"
    random = "random"
    gp = "gp"
    cmaes = "cmaes"
    qmc = "qmc"
    grid = "grid"
    nsga2 = "nsga2"
    auto = "auto"


class Pruner(StrChoice):
    """``sweep.pruner`` (docs/sweeps.md)."""

    median = "median"
    percentile = "percentile"
    successive_halving = "successive_halving"
    hyperband = "hyperband"
    patient = "patient"
    wilcoxon = "wilcoxon"
    threshold = "threshold"
    none = "none"


class Direction(StrChoice):
    """``sweep.direction``: ``auto`` takes the plugin's metric's direction."""

    auto = "auto"
    maximize = "maximize"
    minimize = "minimize"


class Resume(StrChoice):
    """``sweep.resume``: ``auto`` resumes the same study only; ``force`` continues a changed one."""

    auto = "auto"
    force = "force"


class Launcher(StrChoice):
    """``sweep.launcher``: worker processes on this machine, SLURM jobs, or Ray actors."""

    local = "local"
    slurm = "slurm"
    ray = "ray"


class SlurmExecutor(StrChoice):
    """``sweep.slurm.executor``: submit to SLURM, or run the same jobs as local processes."""

    slurm = "slurm"
    local = "local"


def names(choice: type[StrChoice]) -> tuple[str, ...]:
    """The valid names of a choice, in declaration order."""
    return tuple(str(member.value) for member in choice)
