"""Third-party plugins: the installed example package, autoload control, failed selections."""

from __future__ import annotations

import json
import sys

import pytest
from helpers import entry_point, run_cli

from automl.core.errors import PluginError
from automl.core.registry import MODEL_GROUP, discover_models


def test_autoload_disabled_imports_no_third_party_code(tmp_path, dist_factory, monkeypatch):
    marker = tmp_path / "marker"
    monkeypatch.setenv("AUTOML_TEST_MARKER", str(marker))
    sys.modules.pop("fake_marker_plugin", None)
    ep = entry_point(
        "good", "fake_marker_plugin:PLUGIN", MODEL_GROUP, dist_factory("evil-pkg", "6.6")
    )

    reg = discover_models([ep], only=set())
    assert not marker.exists()
    assert reg.skipped == {"good": ("evil-pkg", "6.6")}
    with pytest.raises(
        PluginError, match=r"AUTOML_DISABLE_PLUGIN_AUTOLOAD is set; add plugins=\[good\]"
    ):
        reg.get("good")

    reg = discover_models([ep], only={"good"})
    assert marker.read_text() == "imported"
    assert reg.names() == ["good"], reg.failures


@pytest.mark.heavy
def test_example_package_is_listed_and_sweeps_like_a_builtin(tmp_path):
    listing = run_cli(["plugins"], tmp_path)
    assert "tcn" in listing.stdout and "automl-plugin-example 0.1.0" in listing.stdout
    out = run_cli(
        [
            "model=tcn",
            "sweep.n_trials=2",
            "trainer.max_epochs=2",
            f"hydra.run.dir={tmp_path / 'r'}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    board = json.loads((tmp_path / "r" / "leaderboard.json").read_text())
    assert board["model"] == "tcn" and board["data"] == "waves" and len(board["trials"]) == 2


def test_autoload_off_from_the_command_line(tmp_path):
    def cli(*args):
        return run_cli(list(args), tmp_path, 120, env={"AUTOML_DISABLE_PLUGIN_AUTOLOAD": "1"})

    listing = cli("plugins")
    assert "not loaded" in listing.stdout and "cnn" in listing.stdout
    picked = cli("model=tcn", "--cfg", "job")
    assert picked.returncode == 2
    assert picked.stderr.startswith("automl: error: model 'tcn' from package automl-plugin-example")
    allowed = cli("model=tcn", "plugins=[tcn,waves]", "--cfg", "job")
    assert allowed.returncode == 0, allowed.stderr
    assert "levels: 3" in allowed.stdout
