"""Test helpers: entry points built in memory, composed configs, subprocess CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import EntryPoint, PathDistribution
from pathlib import Path

TESTS = Path(__file__).parent


def make_dist(root: Path, name: str, version: str) -> PathDistribution:
    """A real (on-disk) distribution record, as pip would leave one."""
    info = root / f"{name}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return PathDistribution(info)


def entry_point(name: str, value: str, group: str, dist: PathDistribution) -> EntryPoint:
    return EntryPoint(name, value, group)._for(dist)


def compose(overrides: list[str], models=None, data=None):
    """Compose the real config (with extra plugins registered) outside a Hydra app."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from automl.config import register_configs
    from automl.registry import discover_data, discover_models

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


def run_cli(
    args: list[str], cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m automl ARGS`` in a subprocess, with output captured (not a terminal).

    ``env`` adds to (or overrides) ``cli_env()``.
    """
    return subprocess.run(
        [sys.executable, "-m", "automl", *args],
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
        [sys.executable, "-m", "automl", *args],
        cwd=cwd,
        env=cli_env(**(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
