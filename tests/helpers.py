"""Test helpers: entry points built in memory, composed configs, subprocess CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import EntryPoint, PathDistribution
from pathlib import Path

from automl.cli.commands import COMMANDS

TESTS = Path(__file__).parent


def make_dist(root: Path, name: str, version: str) -> PathDistribution:
    """A real (on-disk) distribution record, as pip would leave one."""
    # pip writes the normalized name: importlib.metadata reads "a-b-1.0.dist-info" as "a".
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return PathDistribution(info)


def entry_point(name: str, value: str, group: str, dist: PathDistribution) -> EntryPoint:
    return EntryPoint(name, value, group)._for(dist)


def install_entry_points(
    site: Path, name: str, version: str, groups: dict[str, dict[str, str]]
) -> Path:
    """A distribution with entry points in folder ``site``, as ``pip install`` leaves one.

    A process with ``site`` on ``PYTHONPATH`` finds its plugins like installed ones, e.g.
    ``groups={"automl.models": {"x": "module:PLUGIN"}}``. Returns ``site``.
    """
    info = make_dist(site, name, version)._path  # type: ignore[attr-defined]
    lines = []
    for group, eps in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{ep} = {value}" for ep, value in eps.items()]
    (Path(info) / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site


def compose(overrides: list[str], models=None, data=None):
    """Compose the real config (with extra plugins registered) outside a Hydra app."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from automl.core.registry import discover_data, discover_models
    from automl.study.config import register_configs

    models = models or discover_models()
    data = data or discover_data()
    register_configs(models, data)
    from hydra.core.hydra_config import HydraConfig

    with initialize_config_module("automl.conf", version_base="1.3"):
        cfg = hydra_compose("config", overrides=overrides, return_hydra_config=True)
    # What a Hydra app does before calling the task: lets ${hydra:...} resolve.
    HydraConfig.instance().set_config(cfg)
    return cfg


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: test plugins importable, wide output, ``extra``."""
    return {**os.environ, "PYTHONPATH": str(TESTS), "COLUMNS": "200", **extra}


_SUBCOMMANDS = tuple(COMMANDS)


def _quick(args: list[str]) -> list[str]:
    """Study commands run without the end-of-study report (seconds of plotting per study)
    unless the test asks for it with ``sweep.report=...``."""
    if not args or args[0] in _SUBCOMMANDS or any(a.startswith("-") for a in args):
        return args
    if any(a.startswith("sweep.report=") for a in args):
        return args
    return [*args, "sweep.report=false"]


def run_cli(
    args: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m automl ARGS`` in a subprocess, with output captured (not a terminal).

    ``env`` adds to (or overrides) ``cli_env()``.
    """
    return subprocess.run(
        [sys.executable, "-m", "automl", *_quick(list(args))],
        cwd=cwd,
        env=cli_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m automl ARGS`` started in the background, stdout and stderr piped.

    ``env`` adds to (or overrides) ``cli_env()``.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "automl", *_quick(list(args))],
        cwd=cwd,
        env=cli_env(**(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def main_with_imports(args: list[str], modules: tuple[str, ...], cwd: Path):
    """Run ``automl.__main__.main(args)`` in a fresh interpreter; its stdout ends with
    ``HEAVY [...]``: which of ``modules`` it imported."""
    code = (
        f"import sys; from automl.__main__ import main; rc = main({args!r}); "
        f"heavy = [m for m in {modules!r} if m in sys.modules]; "
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )
