"""The study report: a real study through the CLI, then `python -m automl report` on it;
hand-made studies for the shapes a real one rarely has (several objectives, one trial)."""

from __future__ import annotations

import csv
import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from helpers import cli_env, run_cli
from optuna.trial import TrialState

from automl.core.records import TrialRecord
from automl.tuning.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    return struct.unpack(">II", data[16:24])


def _report_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "automl", "report", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _write_predictions(run_dir: Path, rows: list[tuple], classes: list[str] | None = None):
    best = run_dir / "best"
    best.mkdir(parents=True, exist_ok=True)
    with open(best / "test_predictions.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["y_true", "y_pred"])
        writer.writerows(rows)
    if classes is not None:
        prep = best / "preprocessing.json"
        data = json.loads(prep.read_text()) if prep.exists() else {}
        prep.write_text(json.dumps({**data, "classes": classes}))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real study: MLP on digits, 5 trials of 3 epochs; the median pruner, active from the
    third trial on, stops some after their first epoch."""
    root = tmp_path_factory.mktemp("report")
    run = root / "run"
    out = run_cli(
        [
            "model=mlp",
            "data=digits",
            "sweep.n_trials=5",
            "trainer.max_epochs=3",
            "+sweep.pruner_args.n_startup_trials=2",
            "+sweep.pruner_args.n_warmup_steps=0",
            f"hydra.run.dir={run}",
        ],
        root,
    )
    assert out.returncode == 0, out.stderr
    return run


@pytest.mark.heavy
def test_report_of_a_real_study_is_one_offline_page_and_a_png_per_figure(run_dir):
    rows = [(i % 10, i % 10 if i % 7 else (i + 1) % 10) for i in range(200)]
    _write_predictions(run_dir, rows, [f"digit {i}" for i in range(10)])
    before = hashlib.sha256((run_dir / "study.db").read_bytes()).hexdigest()
    out = _report_cli([str(run_dir)], run_dir.parent)
    assert out.returncode == 0, out.stderr
    assert hashlib.sha256((run_dir / "study.db").read_bytes()).hexdigest() == before  # read-only
    report = run_dir / "report"
    page = (report / "index.html").read_text()
    assert out.stdout.splitlines()[0] == f"report: {report / 'index.html'}"
    # one self-contained file: plotly.js inline, nothing fetched from the network
    assert "<script src" not in page and "<link" not in page
    assert page.count("Plotly.newPlot") >= 8 and len(page) > 3_000_000
    expected = {
        "history",
        "importance",
        "parallel_coordinates",
        "slice",
        "learning_curves",
        "timeline",
        "confusion_matrix",
        "per_class",
    }
    assert {p.stem for p in report.glob("*.png")} == expected
    for name in expected:
        width, height = _png_size(report / f"{name}.png")
        assert width >= 600 and height >= 300, (name, width, height)
        assert f'id="{name}"' in page
    study = optuna.load_study(study_name="mlp-digits", storage=f"sqlite:///{run_dir / 'study.db'}")
    states = {t.state for t in study.trials}
    assert {TrialState.COMPLETE, TrialState.PRUNED} <= states
    assert "pruned here" in page and "pruned after epoch" in page  # the pruning points
    assert "digit 3" in page and "macro avg" in page  # class names from preprocessing.json
    assert "Pareto" not in page  # one objective
    # The best trial is the one exported to best/ (the leaderboard's rank 1; on a tie that
    # need not be Optuna's best_trial, the first of equal values).
    exported = study.user_attrs["best_test_metrics"]["trial"]
    ranked = json.loads((run_dir / "leaderboard.json").read_text())["trials"]
    assert ranked[0]["number"] == exported
    best = study.trials[exported]
    assert best.value == study.best_value
    assert f"#{best.number}: val_acc = {best.value:.4g}" in page
    test = json.loads((run_dir / "best" / "metrics.json").read_text())["test"]
    assert f"test_acc={test['test_acc']:.4g}" in page  # the exported model's test metrics
    # Five trials: importances are a rough guide, and the page says so (above and on the figure).
    complete = sum(t.state == TrialState.COMPLETE for t in study.trials)
    warning = f"parameter importance rests on {complete} complete trials (fewer than 20)"
    assert page.count(warning) == 2
    # The timeline: one bar per trial in the one worker's lane.
    assert f"{len(study.trials)} trials on 1 worker." in page


def test_report_without_predictions_says_why_and_regression_shows_predicted_vs_true(tmp_path):
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="reg", direction="minimize")
    study.set_user_attr("metric", "rmse")
    for i in range(5):
        trial = study.ask({"alpha": optuna.distributions.FloatDistribution(1e-3, 1.0, log=True)})
        trial.report(3.0 - i * 0.1, 0)
        trial.report(2.0 - i * 0.1, 1)
        for key, value in TrialRecord(unit="step", metrics={"val_rmse": 2.0 - i}).attrs().items():
            trial.set_user_attr(key, value)
        study.tell(trial, 2.0 - i * 0.1)
    index = write_report(storage, "reg", tmp_path)
    page = index.read_text()
    assert "no best/test_predictions.csv" in page
    assert not (index.parent / "predicted_vs_true.png").exists()
    _write_predictions(tmp_path, [(v, v * 1.1 + 0.3) for v in range(25)])
    write_report(storage, "reg", tmp_path)
    assert _png_size(tmp_path / "report" / "predicted_vs_true.png")[0] > 500
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Predicted vs true" in page and "RMSE" in page and "val_rmse (minimize)" in page
    assert "step" in page  # learning curves are labelled by the trials' unit


def test_a_study_too_small_for_importances_gets_a_note(tmp_path):
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="one", direction="maximize")
    study.enqueue_trial({"x": 0.5})
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    index = write_report(storage, "one", tmp_path)
    page = index.read_text()
    assert "too few complete trials to estimate importances (1 complete" in page
    assert "no trial reported intermediate values" in page
    assert (tmp_path / "report" / "history.png").exists()
    assert not (tmp_path / "report" / "importance.png").exists()


def test_multi_objective_study_gets_a_pareto_front(tmp_path):
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        storage=storage, study_name="mo", directions=["maximize", "minimize"]
    )
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        study.set_metric_names(["val_acc", "latency_ms"])

    def objective(trial):
        x = trial.suggest_float("width", 0.0, 1.0)
        d = trial.suggest_int("depth", 1, 4)
        return x * 0.5 + d * 0.1, x * 10 + d

    study.optimize(objective, n_trials=12)
    write_report(storage, "mo", tmp_path)
    report = tmp_path / "report"
    assert _png_size(report / "pareto_front.png")[0] > 500
    assert (report / "importance.png").exists() and (report / "history.png").exists()
    page = (report / "index.html").read_text()
    assert "Pareto front" in page and "latency_ms (minimize)" in page


def test_report_cli_errors_are_one_line_exit_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _report_cli([str(empty)], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"automl report: error: {empty}: no study.db or journal file")
    shared = tmp_path / "shared.db"
    for name in ("a", "b"):
        optuna.create_study(study_name=name, storage=f"sqlite:///{shared}")
    out = _report_cli([f"sqlite:///{shared}"], tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"automl report: error: sqlite:///{shared} holds 2 studies (a, b); "
        "choose one with --study NAME"
    )
    out = _report_cli([f"sqlite:///{shared}", "--study", "c"], tmp_path)
    assert out.returncode == 2 and "no study named 'c'; studies there: a, b" in out.stderr
    missing = _report_cli(["sqlite:///nowhere/study.db"], tmp_path)
    assert missing.returncode == 2 and "no such SQLite file" in missing.stderr
    assert not Path(tmp_path / "nowhere").exists()


def test_report_reads_a_journal_storage_and_writes_where_asked(tmp_path):
    from optuna.storages.journal import JournalFileBackend

    journal = tmp_path / "study.jsonl"
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(storage=storage, study_name="j")
    study.optimize(lambda t: (t.suggest_float("x", -1, 1) - 0.2) ** 2, n_trials=6)
    (tmp_path / "automl.log").write_text("[2026-01-01][automl][INFO] - not a journal\n")
    out = _report_cli([str(tmp_path), "--out", str(tmp_path / "elsewhere")], tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "elsewhere" / "index.html").exists()
    assert (tmp_path / "elsewhere" / "slice.png").exists()


@pytest.mark.heavy
def test_the_report_imports_no_training_code(tmp_path):
    code = (
        "import sys, optuna\n"
        "from automl.tuning.report import write_report\n"
        "optuna.logging.set_verbosity(optuna.logging.ERROR)\n"
        "s = optuna.create_study(storage=sys.argv[1], study_name='s')\n"
        "s.optimize(lambda t: t.suggest_float('x', 0, 1) ** 2, n_trials=4)\n"
        "write_report(sys.argv[1], 's', None, sys.argv[2])\n"
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'lightning', 'xgboost', "
        "'automl.study.train', 'automl.backends.supervised', 'automl.tuning.study') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout and (tmp_path / "r" / "index.html").exists()
