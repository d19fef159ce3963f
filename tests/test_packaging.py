"""A regular (non-editable) install ships the Hydra presets and recipes inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.heavy
def test_wheel_ships_conf_and_recipes_and_runs_from_it(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "dist").glob("automl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "automl/conf/config.yaml",
        "automl/conf/sweep/optuna.yaml",
        "automl/conf/trainer/default.yaml",
        "automl/conf/hydra/help/automl.yaml",
        "automl/conf/recipe/cnn_digits.yaml",
        "automl_plugins/cnn.py",
        "automl/py.typed",  # PEP 561: type checkers use automl's annotations
        "automl/testing/checks.py",
        "automl/results/report/build.py",
        "automl/backends/lightning.py",
    ):
        assert required in names, required
    # pyproject.toml lists packages by hand: every package folder of the source must ship.
    for init in sorted((ROOT / "automl").rglob("__init__.py")):
        shipped = init.relative_to(ROOT).as_posix()
        assert shipped in names, f"{shipped}: add its package to [tool.setuptools] packages"
    metadata = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    assert "Provides-Extra: testing" in metadata  # pip install automl[testing]
    assert 'Requires-Dist: pytest>=8; extra == "testing"' in metadata
    assert "Requires-Dist: optuna<6,>=5.0" in metadata
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[automl.models]" in text and "cnn = automl_plugins.cnn:PLUGIN" in text

    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import automl, automl.conf; print(automl.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert where.stdout.startswith(str(target)), where.stdout + where.stderr
    cfg = subprocess.run(
        [sys.executable, "-m", "automl", "+recipe=cnn_digits", "--cfg", "job"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert cfg.returncode == 0, cfg.stderr
    assert "study_name: recipe-cnn-digits" in cfg.stdout
