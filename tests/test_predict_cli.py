"""`python -m automl predict`, the subcommand table, --help and --version, as a user runs them."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
from helpers import main_with_imports, run_cli
from serving_fixtures import write_table
from sklearn.datasets import load_breast_cancer, load_digits

from automl.results.predictor import load_best


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_predict_a_csv_writes_labels_and_probabilities(xgb_run, tmp_path):
    bunch = load_breast_cancer()
    source = tmp_path / "patients.csv"
    with open(source, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["target", *bunch.feature_names])  # extra column, other order: by name
        for row, y in zip(bunch.data[:120], bunch.target[:120], strict=True):
            w.writerow([y, *row])
    out = run_cli(
        ["predict", str(xgb_run), str(source), "--output", str(tmp_path / "preds.csv"),
         "--batch-size", "50"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "wrote 120 predictions to" in out.stdout
    rows = read_csv(tmp_path / "preds.csv")
    assert list(rows[0]) == ["id", "prediction", "p_malignant", "p_benign"]
    predictor = load_best(xgb_run)
    assert [r["prediction"] for r in rows] == predictor.predict_labels(bunch.data[:120])
    proba = np.array([[float(r["p_malignant"]), float(r["p_benign"])] for r in rows])
    np.testing.assert_allclose(proba, predictor.predict_proba(bunch.data[:120]), rtol=1e-5)
    assert [r["id"] for r in rows] == [str(i) for i in range(120)]


@pytest.mark.heavy
def test_predict_a_table_csv_and_an_npz_of_digits(csv_run, cnn_run, tmp_path):
    table = write_table(tmp_path / "new.csv", rows=30, seed=5)
    out = run_cli(["predict", str(csv_run), str(table), "-o", str(tmp_path / "t.csv")], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    labels = [r["prediction"] for r in read_csv(tmp_path / "t.csv")]
    with open(table, newline="") as f:
        raw = list(csv.DictReader(f))
    assert labels == load_best(csv_run).predict_labels(raw)

    digits = load_digits()
    np.savez(tmp_path / "digits.npz", x=digits.images[:64])  # the data's own (8, 8) shape
    out = run_cli(["predict", str(cnn_run), str(tmp_path / "digits.npz")], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = read_csv(tmp_path / "predictions.csv")
    assert len(rows) == 64 and len(rows[0]) == 2 + 10
    expected = load_best(cnn_run).predict(digits.images[:64]).tolist()
    assert [int(r["prediction"]) for r in rows] == expected


@pytest.mark.parametrize(
    "content, words",
    [
        ("mean radius,mean texture\n1,2\n", "lacks column(s)"),
        (None, "does not exist"),
    ],
)
def test_bad_predict_input_is_one_line_exit_2(xgb_run, tmp_path, content, words):
    source = tmp_path / "in.csv"
    if content is not None:
        source.write_text(content)
    out = run_cli(["predict", str(xgb_run), str(source)], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("automl: error: ") and words in line
    assert not (tmp_path / "predictions.csv").exists()


def test_a_bad_value_deep_in_a_file_is_named_by_row(xgb_run, tmp_path):
    bunch = load_breast_cancer()
    source = tmp_path / "in.csv"
    with open(source, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(bunch.feature_names)
        for i, row in enumerate(bunch.data[:40]):
            w.writerow(["oops" if (i == 33 and j == 2) else v for j, v in enumerate(row)])
    out = run_cli(["predict", str(xgb_run), str(source)], tmp_path)
    assert out.returncode == 2
    assert "in.csv[33][2] ('mean perimeter') is 'oops'; expected a number" in out.stderr


def test_subcommand_argument_errors_are_one_line(tmp_path):
    out = run_cli(["serve"], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "the following arguments are required: RUN_DIR" in line
    bad = run_cli(["serve", ".", "--workers", "0"], tmp_path)
    assert bad.returncode == 2 and "--workers must be >= 1" in bad.stderr


def test_version_and_help_list_the_subcommands(tmp_path):
    version = run_cli(["--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == "automl 0.1.0"
    out = run_cli(["--help"], tmp_path)
    assert out.returncode == 0
    for command in ("plugins", "serve", "predict"):
        assert f"python -m automl {command} " in out.stdout


@pytest.mark.parametrize("command", ["serve", "predict"])
def test_subcommand_help_imports_nothing_heavy(tmp_path, command):
    heavy = ("torch", "pytorch_lightning", "xgboost", "sklearn", "optuna", "fastapi", "uvicorn")
    out = main_with_imports([command, "--help"], heavy, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout and "RUN_DIR" in out.stdout


def test_serving_never_imports_the_tuning_layer_and_the_export_side_stays_light():
    code = (
        "import sys\n"
        "import automl.results.model_card, automl.results.schema, automl.results.drift\n"
        "import automl.results.exported\n"
        "light = [m for m in ('torch', 'fastapi', 'uvicorn', 'prometheus_client') "
        "if m in sys.modules]\n"
        "import automl.serving.app, automl.serving.cli, automl.results.predictor\n"
        "import automl.serving.batch_predict\n"
        "tuning = [m for m in ('automl.tuning', 'optuna') if m in sys.modules]\n"
        "print('LIGHT', light, 'TUNING', tuning)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "LIGHT [] TUNING []" in out.stdout


@pytest.mark.heavy
def test_predict_an_image_folder_by_file_path(images_run, tmp_path):
    from serving_fixtures import write_images

    folder = write_images(tmp_path / "new", per_class=3, seed=9)
    target = tmp_path / "p.csv"
    out = run_cli(["predict", str(images_run), str(folder), "-o", str(target)], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = read_csv(tmp_path / "p.csv")
    assert sorted(r["id"] for r in rows) == sorted(
        f"{c}/{i}.png" for c in ("bright", "dark") for i in range(3)
    )
    assert list(rows[0])[2:] == ["p_bright", "p_dark"]  # classes are the folder names
    files = sorted(folder.rglob("*.png"))
    expected = load_best(images_run).predict_labels([str(p) for p in files])
    assert [r["prediction"] for r in rows] == expected
