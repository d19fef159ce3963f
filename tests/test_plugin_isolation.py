"""One broken plugin installed: it is a FAILED row, and every command and other model works."""

from __future__ import annotations

import json
import os

import pytest
from helpers import TESTS, install_entry_points, run_cli

# name -> (entry point, how its reason starts: on the first line of its wrapped table cell)
BROKEN = {
    "callable_config": ("fake_plugins:CALLABLE_CONFIG", "config CallableConfig"),
    "space_typo": ("fake_plugins:SPACE_TYPO", "search_space: space.hiden"),
    "exits": ("fake_exiting_plugin:PLUGIN", "SystemExit(3)"),
    "aborts": ("fake_base_exception_plugin:PLUGIN", "Abort: the plugin gave up"),
}


@pytest.fixture
def broken_env(tmp_path):
    """``PYTHONPATH`` with the test plugins and a package that installs the broken ones."""
    site = install_entry_points(
        tmp_path / "site",
        "automl-broken",
        "0.3",
        {"automl.models": {name: value for name, (value, _) in BROKEN.items()}},
    )
    return {"PYTHONPATH": os.pathsep.join([str(site), str(TESTS)])}


def test_plugins_lists_each_broken_plugin_as_failed_with_its_reason(tmp_path, broken_env):
    out = run_cli(["plugins"], tmp_path, env=broken_env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    for name, (_, reason) in BROKEN.items():
        row = next(line for line in out.stdout.splitlines() if line.split()[:1] == [name])
        assert "FAILED" in row and "automl-broken 0.3" in row and reason in row, row
    names = {line.split()[0] for line in out.stdout.splitlines() if line.split()}
    assert {"mlp", "xgboost"} <= names


@pytest.mark.heavy
def test_help_and_other_models_work_and_the_broken_one_is_a_one_line_error(tmp_path, broken_env):
    help_out = run_cli(["--help"], tmp_path, env=broken_env, timeout=120)
    assert help_out.returncode == 0, help_out.stderr
    groups = next(line for line in help_out.stdout.splitlines() if line.startswith("model: "))
    assert "mlp" in groups and "space_typo" not in groups

    run_dir = tmp_path / "run"
    study = run_cli(
        ["model=xgboost", "data=wine", "sweep.n_trials=1", f"hydra.run.dir={run_dir}"],
        tmp_path,
        env=broken_env,
        timeout=300,
    )
    assert study.returncode == 0, study.stderr
    assert json.loads((run_dir / "leaderboard.json").read_text())["trials"][0]["state"] in (
        "COMPLETE",
        "PRUNED",
    )

    chosen = run_cli(["model=space_typo"], tmp_path, env=broken_env, timeout=120)
    assert chosen.returncode == 2
    (line,) = chosen.stderr.strip().splitlines()
    assert line.startswith(
        "automl: error: plugin 'space_typo' from package automl-broken 0.3 failed: "
    )
