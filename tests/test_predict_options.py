"""A CSV study as a new user runs it (an identifier column, missing cells, text columns), then
`python -m automl predict` with --on-error, --id-column and --evaluate on new rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

from automl.results.predictor import load_best

HEADER = ["customer_id", "age", "income", "city", "owns_car", "label"]


def write_loans(path: Path, rows: int, seed: int, cities=("Lyon", "Paris", "Nice")) -> Path:
    """Loans: a unique integer customer_id, numbers and text with gaps, an approve/reject label."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(rows):
            income = round(float(rng.normal(40000, 9000)))
            car = ("yes", "no")[int(rng.integers(2))]
            label = "approve" if income + 4000 * (car == "yes") > 41000 else "reject"
            cells = [5000 + 7 * i, int(rng.integers(18, 80)), income,
                     cities[int(rng.integers(len(cities)))], car, label]  # fmt: skip
            for j in (1, 3):
                if rng.random() < 0.1:
                    cells[j] = ""
            w.writerow(cells)
    return path


@pytest.fixture(scope="module")
def loans_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("loans")
    write_loans(root / "loans.csv", 300, seed=0)
    run_dir = root / "run"
    out = run_cli(
        ["model=xgboost", "data=csv", "data.path=loans.csv", "data.target=label",
         "sweep.n_trials=1", "model.n_estimators=30", "sweep.report=true",
         f"hydra.run.dir={run_dir}", "sweep.live=false"],
        root,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir / "stdout.txt").write_text(out.stdout)
    return run_dir


def read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.heavy
def test_a_csv_study_prints_its_data_in_one_line_and_leaves_the_id_column_out(loans_run):
    stdout = (loans_run / "stdout.txt").read_text()
    summary = json.loads((loans_run / "best" / "data_summary.json").read_text())
    missing = summary["missing_cells"]
    assert missing > 0  # 10% of two columns are empty
    line = (
        f"note: data: loans.csv: 300 rows, 4 columns: 2 numeric, 2 text -> 7 features; "
        f"{missing} missing cells imputed (median / most frequent); left out: customer_id"
    )
    assert line in stdout
    assert "column 'customer_id' is left out: its 300 values are all different" in stdout
    assert "data.keep=[customer_id] keeps it" in stdout
    roles = {c["name"]: c["role"] for c in summary["columns"]}
    assert roles == {"age": "feature", "income": "feature", "city": "feature",
                     "owns_car": "feature", "customer_id": "identifier"}  # fmt: skip
    assert summary["split_rows"]["test"] > 0 and summary["features"] == 7
    page = (loans_run / "report" / "index.html").read_text()
    assert '<section id="data"><h2>Data</h2>' in page and "<td>identifier</td>" in page
    assert "customer_id" not in load_best(loans_run).metadata()["inputs"].__repr__()


def test_only_identifier_like_all_unique_columns_are_left_out(tmp_path):
    """All-unique text, row numbers and an `*_id` column go; distinct decimals and scattered
    integers (measurements) stay; a small table keeps everything."""
    from automl.data.table import CsvConfig, load_csv

    rng = np.random.default_rng(0)
    path = tmp_path / "t.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["uuid", "row", "order_id", "weight", "income", "label"])
        incomes = rng.choice(10**6, size=40, replace=False)
        for i in range(40):
            weight = round(50 + i * 0.37 + rng.random() / 10, 3)
            w.writerow([f"u{rng.integers(10**9)}-{i}", i + 1, int(incomes[i]) + 7, weight,
                        int(incomes[i]), "ab"[i % 2]])  # fmt: skip
    raw = load_csv(CsvConfig(path=str(path), target="label"))
    roles = {c["name"]: c["role"] for c in raw.summary["columns"]}
    assert roles == {"weight": "feature", "income": "feature", "uuid": "identifier",
                     "row": "identifier", "order_id": "identifier"}  # fmt: skip
    assert len(raw.notes) == 3 and all("data.keep=[" in n for n in raw.notes)
    small = tmp_path / "small.csv"
    small.write_text("\n".join(path.read_text().splitlines()[:11]) + "\n")
    raw = load_csv(CsvConfig(path=str(small), target="label"))
    assert raw.notes == () and raw.x.shape[1] == 5  # all five columns


def test_data_keep_keeps_an_all_unique_column(tmp_path):
    write_loans(tmp_path / "loans.csv", 60, seed=1)
    out = run_cli(
        ["model=xgboost", "data=csv", "data.path=loans.csv", "data.target=label",
         "data.keep=[customer_id]", "sweep.n_trials=1", "model.n_estimators=5",
         f"hydra.run.dir={tmp_path / 'run'}", "sweep.live=false"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "left out" not in out.stdout and "5 columns: 3 numeric, 2 text" in out.stdout


@pytest.mark.heavy
def test_unseen_categories_are_marked_skipped_or_stop_the_file(loans_run, tmp_path):
    source = write_loans(tmp_path / "new.csv", 40, seed=7, cities=("Lyon", "Paris", "Oslo"))
    rows = read(source)
    bad = [i for i, r in enumerate(rows) if r["city"] == "Oslo"]
    assert bad and len(bad) < len(rows)

    failed = run_cli(["predict", str(loans_run), str(source), "-o", str(tmp_path / "f.csv")],
                     tmp_path)  # fmt: skip
    assert failed.returncode == 2 and not (tmp_path / "f.csv").exists()
    (line,) = failed.stderr.strip().splitlines()
    assert f"new.csv[{bad[0]}].city is 'Oslo', not a level seen in training" in line
    assert "--on-error mark or skip" in line

    out = run_cli(["predict", str(loans_run), str(source), "-o", str(tmp_path / "m.csv"),
                   "--on-error", "mark", "--id-column", "customer_id"], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    marked = read(tmp_path / "m.csv")
    assert [r["id"] for r in marked] == [r["customer_id"] for r in rows]
    assert [i for i, r in enumerate(marked) if r["error"]] == bad
    assert all("not a level seen in training" in marked[i]["error"] for i in bad)
    good = [i for i in range(len(rows)) if i not in bad]
    expected = load_best(loans_run).predict_labels([rows[i] for i in good])
    assert [marked[i]["prediction"] for i in good] == expected
    assert all(marked[i]["prediction"] == "" for i in bad)
    assert f"{len(bad)} row(s) could not be predicted (marked" in out.stdout

    out = run_cli(["predict", str(loans_run), str(source), "-o", str(tmp_path / "s.csv"),
                   "--on-error", "skip"], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    skipped = read(tmp_path / "s.csv")
    assert [r["id"] for r in skipped] == [str(i) for i in good]
    assert "error" not in skipped[0]


@pytest.mark.heavy
def test_evaluate_scores_the_rows_that_carry_the_label(loans_run, tmp_path):
    source = write_loans(tmp_path / "labelled.csv", 80, seed=3)
    out = run_cli(["predict", str(loans_run), str(source), "-o", str(tmp_path / "e.csv"),
                   "--evaluate"], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rows = read(source)
    predicted = [r["prediction"] for r in read(tmp_path / "e.csv")]
    acc = np.mean([p == r["label"] for p, r in zip(predicted, rows, strict=True)])
    assert f"evaluated on 80 labelled rows: acc {acc:.4g}" in out.stdout

    unlabelled = tmp_path / "bare.csv"
    unlabelled.write_text("\n".join(",".join(r[:-1]) for r in csv.reader(source.open())) + "\n")
    out = run_cli(["predict", str(loans_run), str(unlabelled), "--evaluate"], tmp_path)
    assert out.returncode == 2
    assert (
        "--evaluate needs labels in bare.csv: a column 'label' (the training target)" in out.stderr
    )
    out = run_cli(["predict", str(loans_run), str(source), "--id-column", "nope"], tmp_path)
    assert out.returncode == 2 and "--id-column nope: labelled.csv has no such column" in out.stderr
