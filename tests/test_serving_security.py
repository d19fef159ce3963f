"""Everything in best/ is untrusted: pickles never run, tampered files are refused in one line."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import cli_env, make_dist, run_cli
from serving_fixtures import copy_export, free_port
from sklearn.datasets import load_diabetes

from automl.core.errors import ExportError
from automl.results.predictor import load_best


class Payload:
    """Unpickling this writes a marker file: proof that the pickle ran code."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant(path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps(Payload(marker)))


def one_line_error(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("automl: error: "), out.stderr[-2000:]
    return lines[0]


def serve_once(export: Path, cwd: Path) -> subprocess.CompletedProcess:
    """`serve` on an export it must refuse: it exits (2) before listening."""
    return run_cli(["serve", str(export), "--port", str(free_port())], cwd, timeout=120)


@pytest.mark.heavy
def test_a_planted_pickle_never_runs_through_load_best_serve_or_predict(forest_run, tmp_path):
    marker = tmp_path / "pwned"
    best = copy_export(forest_run, tmp_path / "joblib")
    (best / "model.skops").unlink()
    plant(best / "model.joblib", marker)  # what an old export (or an attacker) leaves
    rows = tmp_path / "rows.npz"
    np.savez(rows, x=load_diabetes().data[:5])

    with pytest.raises(ExportError, match="is a pickle file, which automl does not load") as err:
        load_best(best)
    assert "sweep.refit=true" in str(err.value) and "\n" not in str(err.value)
    assert "pickle file" in one_line_error(serve_once(best, tmp_path))
    predicted = run_cli(["predict", str(best), str(rows), "-o", str(tmp_path / "p.csv")], tmp_path)
    assert "pickle file" in one_line_error(predicted)

    # The same payload named as the skops file: skops reads it as a zip, which it is not.
    disguised = copy_export(forest_run, tmp_path / "disguised")
    plant(disguised / "model.skops", marker)
    with pytest.raises(ExportError, match="not a readable skops file"):
        load_best(disguised)
    assert "skops" in one_line_error(serve_once(disguised, tmp_path))
    assert not marker.exists()
    assert not (tmp_path / "p.csv").exists()


def test_a_skops_file_naming_untrusted_types_is_refused(forest_run, tmp_path):
    import skops.io
    from sklearn.preprocessing import FunctionTransformer

    best = copy_export(forest_run, tmp_path / "untrusted")
    skops.io.dump(FunctionTransformer(func=os.system), best / "model.skops")
    with pytest.raises(ExportError, match="that a forest does not contain") as err:
        load_best(best)
    assert "system" in str(err.value)


@pytest.mark.heavy
def test_a_pickle_in_torch_weights_never_runs(cnn_run, tmp_path):
    marker = tmp_path / "pwned"
    best = copy_export(cnn_run, tmp_path / "torch")
    plant(best / "model.pt", marker)
    with pytest.raises(ExportError, match="which automl never unpickles"):
        load_best(best)
    assert "never unpickles" in one_line_error(serve_once(best, tmp_path))
    assert not marker.exists()


def _tamper(best: Path, **steps) -> None:
    stats = json.loads((best / "preprocessing.json").read_text())
    for step in stats["steps"]:
        for key, value in steps.get(step["kind"], {}).items():
            step[key] = value
    (best / "preprocessing.json").write_text(json.dumps(stats))


@pytest.mark.parametrize(
    "change, words",
    [
        ({"standardize": {"std": [0.0] * 30}}, "every value must be > 0"),
        ({"standardize": {"mean": [1e400] * 30}}, "finite number"),
        ({"standardize": {"mean": [0.0] * 7, "std": [1.0] * 7}}, "must both have 30 values"),
        ({"standardize": {"mean": "zeros"}}, "non-empty list of numbers"),
        ({"image": {}}, ""),  # no such step: unchanged file, still loads (control)
    ],
)
def test_tampered_preprocessing_is_refused_in_one_line(xgb_run, tmp_path, change, words):
    best = copy_export(xgb_run, tmp_path)
    _tamper(best, **change)
    if not words:
        assert load_best(best).predict(np.zeros((1, 30))).shape == (1,)
        return
    with pytest.raises(ExportError, match="preprocessing.json") as err:
        load_best(best)
    assert words in str(err.value) and "\n" not in str(err.value)
    line = one_line_error(run_cli(["predict", str(best), str(tmp_path / "x.npz")], tmp_path))
    assert words in line


def test_huge_shapes_are_refused_before_anything_is_allocated(cnn_run, tmp_path):
    best = copy_export(cnn_run, tmp_path)
    config = yaml.safe_load((best / "config.yaml").read_text())
    config["spec"]["input_shape"] = [3, 300000, 80000]  # 288 GB of float32 per batch of 4
    (best / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ExportError, match="more than 2"):
        load_best(best)
    stats = json.loads((best / "preprocessing.json").read_text())
    (best / "preprocessing.json").write_text(json.dumps({**stats, "steps": "x" * 10}))
    config["spec"]["input_shape"] = [1, 8, 8]
    (best / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ExportError, match="steps must be a list"):
        load_best(best)


def test_interpolations_in_an_exported_config_are_never_resolved(xgb_run, tmp_path):
    best = copy_export(xgb_run, tmp_path)
    config = yaml.safe_load((best / "config.yaml").read_text())
    config["model"]["device"] = "${oc.env:AUTOML_SECRET_FOR_TEST}"
    (best / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ExportError, match="an interpolation") as err:
        load_best(best)
    assert "model.device" in str(err.value)
    out = run_cli(["serve", str(best)], tmp_path, env={"AUTOML_SECRET_FOR_TEST": "s3cret"})
    line = one_line_error(out)
    assert "s3cret" not in out.stderr + out.stdout and "interpolation" in line
    # In a part the loader does not use (the data config) it is left alone, unresolved.
    config["model"]["device"] = "cpu"
    config["data"]["seed"] = "${oc.env:AUTOML_SECRET_FOR_TEST}"
    (best / "config.yaml").write_text(yaml.safe_dump(config))
    os.environ["AUTOML_SECRET_FOR_TEST"] = "s3cret"
    try:
        predictor = load_best(best)
    finally:
        del os.environ["AUTOML_SECRET_FOR_TEST"]
    assert "s3cret" not in json.dumps(predictor.metadata())


def test_not_an_export_is_one_line_exit_2(tmp_path):
    line = one_line_error(run_cli(["serve", str(tmp_path)], tmp_path))
    assert "is not a model export" in line and "runs/<study>" in line
    line = one_line_error(run_cli(["serve", str(tmp_path / "nope")], tmp_path))
    assert "does not exist" in line


@pytest.mark.heavy
def test_load_best_imports_only_the_plugin_the_export_names(xgb_run, tmp_path):
    """AUTOML_DISABLE_PLUGIN_AUTOLOAD=1: a third-party plugin's code is never imported."""
    site = tmp_path / "site"
    dist = make_dist(site, "marker-plugins", "1.0")
    (Path(dist._path) / "entry_points.txt").write_text(
        "[automl.models]\nmarked = fake_marker_plugin:PLUGIN\n"
    )
    marker = tmp_path / "imported"
    rows = tmp_path / "rows.npz"
    np.savez(rows, x=np.zeros((3, 30)))
    env = {
        "PYTHONPATH": os.pathsep.join([str(site), cli_env()["PYTHONPATH"]]),
        "AUTOML_TEST_MARKER": str(marker),
    }
    for extra in ({"AUTOML_DISABLE_PLUGIN_AUTOLOAD": "1"}, {}):
        out = run_cli(["predict", str(xgb_run), str(rows)], tmp_path, env={**env, **extra})
        assert out.returncode == 0, out.stderr[-2000:]
        assert not marker.exists()
    # Control: the plugin is installed and found (listing every plugin imports it).
    assert run_cli(["plugins"], tmp_path, env=env).returncode == 0
    assert marker.exists()


def test_serve_without_the_extra_is_one_line(xgb_run, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    # First on the path, as an environment without the extra behaves: importing fails.
    (blocker / "fastapi.py").write_text("raise ImportError('No module named fastapi')\n")
    path = os.pathsep.join([str(blocker), cli_env()["PYTHONPATH"]])
    line = one_line_error(run_cli(["serve", str(xgb_run)], tmp_path, env={"PYTHONPATH": path}))
    assert "automl[serve]" in line


def test_sweep_none_style_export_folder_loads(xgb_run, tmp_path):
    """Any folder with the best/ layout loads: here a run folder whose export is `single/`."""
    run = tmp_path / "run"
    shutil.copytree(xgb_run / "best", run / "single")
    predictor = load_best(run)
    assert predictor.directory == run / "single"
    assert predictor.predict(np.zeros((2, 30))).shape == (2,)
