"""How a matrix case runs (the product's own command path) and what is checked after it.

A case runs ``automl.__main__.main`` in the test's process (a subprocess adds seconds of
imports and is not the point; worker processes, SLURM jobs and the server are real processes
the product or the test starts). Afterwards everything is read back the way a user reads it:
the storage (``automl.tuning.stored.open_stored`` on the run directory, whatever the storage),
``leaderboard.csv``/``.json`` parsed, ``best/`` loaded with ``automl.predictor.load_best``,
and ``predict``, ``watch``, ``report`` and ``serve`` run on the run directory.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from helpers import cli_env, install_entry_points
from matrix_cases import Case

__all__ = ["Ran", "run_main", "install_fakes", "fill", "make_data_files", "check_case"]


@dataclass
class Ran:
    """One command's exit code and output."""

    rc: int
    out: str
    err: str

    def tail(self) -> str:
        return f"exit {self.rc}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"


def run_main(args: list[str], capsys: Any) -> Ran:
    """``python -m automl ARGS`` in this process: ``main``, with Hydra's exit kept as a code."""
    from automl.__main__ import main

    saved = sys.argv[:]
    capsys.readouterr()
    try:
        rc = main(list(args))
    except SystemExit as exc:  # Hydra reports an exception it caught, then exits 1
        rc = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    out, err = capsys.readouterr()
    return Ran(int(rc), out, err)


def install_fakes(names: tuple[str, ...], site: Path, monkeypatch: Any) -> None:
    """Make ``tests/fake_plugins`` values installed model plugins, for this process and any
    process it starts (entry points of a distribution on ``sys.path``, as pip leaves them)."""
    import os

    from helpers import TESTS

    models = {name: f"fake_plugins:{name.upper()}" for name in names}
    install_entry_points(site, "matrix-fakes", "0.1", {"automl.models": models})
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", f"{TESTS}{os.pathsep}{site}")


def fill(case: Case, run_dir: Path, files: Path, postgres: str | None) -> list[str]:
    """The case's command line with its placeholders filled, run in ``run_dir``."""
    values = {"run": str(run_dir), "files": str(files), "postgres": postgres or ""}
    args = [a.format(**values) for a in case.args]
    return [*args, f"hydra.run.dir={run_dir}", "sweep.live=false", "sweep.report=false"]


def make_data_files(root: Path) -> Path:
    """The files the file-reading data plugins read: an npz of signals, a CSV table with a
    categorical column, a folder of images."""
    from serving_fixtures import write_images, write_table

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 240)
    t = np.linspace(0, 1, 32, dtype=np.float32)
    x = np.sin(2 * np.pi * (y[:, None] + 1) * t[None]) + 0.3 * rng.standard_normal((240, 32))
    np.savez(root / "signals.npz", x=x[:, None, :].astype(np.float32), y=y)
    write_table(root / "table.csv")
    write_images(root / "pictures")
    return root


# -- inputs a user would predict -----------------------------------------------------------


def _data_config(plugin: Any, case: Case, files: Path) -> Any:
    from omegaconf import OmegaConf

    node = OmegaConf.structured(plugin.config)
    for a in case.args:
        key, _, value = a.partition("=")
        if key.startswith("data."):
            value = value.format(files=files)
            OmegaConf.update(node, key.removeprefix("data."), OmegaConf.create({"v": value}).v)
    return OmegaConf.to_object(node)


def raw_inputs(case: Case, files: Path, scratch: Path) -> tuple[Any, Path, int]:
    """Inputs as a user has them (for ``load_best``), a file of them (for ``predict``), and
    how many samples the file holds."""
    from automl.core.plugin import resolve
    from automl.core.registry import discover_data
    from automl.data.table import read_rows

    data = case.arg("data")
    if data == "csv":
        rows = read_rows(files / "table.csv")
        return rows, files / "table.csv", len(rows)
    if data == "images":
        paths = sorted(str(p) for p in (files / "pictures").rglob("*.png"))
        return paths, files / "pictures", len(paths)
    plugin = discover_data().get(str(data))
    x = np.asarray(resolve(plugin.load)(_data_config(plugin, case, files)).x)[:20]
    np.savez(scratch / "inputs.npz", x=x)
    return x, scratch / "inputs.npz", len(x)


# -- the checks ------------------------------------------------------------------------------


def check_refused(case: Case, ran: Ran, run_dir: Path) -> None:
    assert ran.rc == 2, ran.tail()
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("automl: error: "), ran.tail()
    assert case.refused in lines[0], ran.tail()
    assert "Traceback" not in ran.out + ran.err
    assert not run_dir.exists(), f"a refused command left {sorted(run_dir.rglob('*'))}"


def stored_trials(run_dir: Path) -> list[Any]:
    """The study's trials, read from whatever storage the run used."""
    from automl.tuning.stored import open_stored

    return open_stored(str(run_dir)).load().get_trials()


def _check_trials(case: Case, run_dir: Path) -> list[Any]:
    trials = stored_trials(run_dir)
    states = [t.state.name for t in trials]
    assert "RUNNING" not in states and "WAITING" not in states, states
    assert len(trials) == case.expected_trials, states
    assert set(states) <= case.states, states
    for t in trials:
        if t.state.name == "FAIL":
            assert t.user_attrs.get("error"), f"trial {t.number} failed without a reason"
    if case.distinct:
        params = [json.dumps(t.params, sort_keys=True) for t in trials]
        assert len(set(params)) == len(params), params
    return trials


def _check_leaderboard(run_dir: Path, trials: list[Any]) -> None:
    board = json.loads((run_dir / "leaderboard.json").read_text())
    rows = board["trials"]
    assert sorted(r["number"] for r in rows) == sorted(t.number for t in trials)
    by_number = {t.number: t.state.name for t in trials}
    assert all(r["state"] == by_number[r["number"]] for r in rows), rows
    with open(run_dir / "leaderboard.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert sorted(int(r["number"]) for r in table) == sorted(by_number)
    for r in table:
        if r["state"] == "COMPLETE" and r["value"]:
            assert math.isfinite(float(r["value"]))


def _check_predictions(case: Case, run_dir: Path, files: Path, scratch: Path, capsys) -> None:
    from automl.results.predictor import load_best

    predictor = load_best(run_dir)
    if predictor.generative:
        samples = predictor.generate(4, seed=1)
        assert samples.shape[0] == 4 and np.isfinite(samples).all()
        if "predict" in case.commands:
            ran = run_main(["predict", str(run_dir), str(scratch)], capsys)
            assert ran.rc == 2 and "is a generator" in ran.err, ran.tail()
        return
    x, source, n = raw_inputs(case, files, scratch)
    pred = np.asarray(predictor.predict(x))
    assert len(pred) == len(x)
    if predictor.task == "classification":
        classes = predictor.classes
        assert classes and set(pred.tolist()) <= set(range(len(classes))), pred
        expected: list[Any] = predictor.predict_labels(x)
    else:
        assert np.isfinite(pred.astype(float)).all(), pred
        expected = pred.astype(float).tolist()
    if "predict" in case.commands:
        out = scratch / "predictions.csv"
        ran = run_main(["predict", str(run_dir), str(source), "-o", str(out)], capsys)
        assert ran.rc == 0, ran.tail()
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == n
        got = [r["prediction"] for r in rows][: len(x)]
        if predictor.task == "classification":
            assert got == expected
        else:
            np.testing.assert_allclose([float(v) for v in got], expected, rtol=1e-5)
    if "serve" in case.commands:
        _check_serve(run_dir, x[:5], expected[:5], predictor.task)


def _check_serve(run_dir: Path, x: Any, expected: list[Any], task: str) -> None:
    from serving_fixtures import Server

    server = Server(run_dir)
    try:
        server.wait_ready()
        instances = x if isinstance(x, list) else np.asarray(x).tolist()
        answer = server.client.post("/predict", json={"instances": instances})
        assert answer.status_code == 200, answer.text
        got = answer.json()["predictions"]
        if task == "classification":
            assert got == expected
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-5)
    finally:
        server.close()


def _check_generate(run_dir: Path) -> None:
    from serving_fixtures import Server

    server = Server(run_dir)
    try:
        server.wait_ready()
        answer = server.client.post("/generate", json={"n": 3, "seed": 1})
        assert answer.status_code == 200, answer.text
        assert answer.json()["shape"][0] == 3
    finally:
        server.close()


def _check_watch(run_dir: Path, n: int) -> None:
    """``watch`` on a finished study is a separate process, as a user runs it; it must exit
    at once, having seen every trial."""
    done = subprocess.run(
        [sys.executable, "-m", "automl", "watch", str(run_dir), "--interval", "0.2"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip().splitlines()[-1].endswith(f"holds its {n} trial{'' if n == 1 else 's'}")
    ), done.stdout


def _check_report(run_dir: Path, capsys) -> None:
    ran = run_main(["report", str(run_dir)], capsys)
    assert ran.rc == 0, ran.tail()
    page = run_dir / "report" / "index.html"
    assert page.is_file() and page.stat().st_size > 10_000
    assert list((run_dir / "report").glob("*.png"))


def check_case(
    case: Case, ran: Ran, run_dir: Path, files: Path, scratch: Path, capsys: Any
) -> None:
    """Everything a user relies on after ``case`` ran."""
    if case.refused is not None:
        check_refused(case, ran, run_dir)
        return
    assert ran.rc == case.rc, ran.tail()
    assert "Traceback" not in ran.err, ran.tail()
    for words in case.notes:
        assert words in ran.out + ran.err, f"{words!r} not said:\n{ran.tail()}"
    if case.export == "single":
        assert not list(run_dir.glob("study.*")), "sweep=none made a study"
        assert (run_dir / "single" / "config.yaml").is_file()
    else:
        trials = _check_trials(case, run_dir)
        _check_leaderboard(run_dir, trials)
        assert (run_dir / "best").is_dir() == (case.export == "best"), ran.tail()
        if "watch" in case.commands:
            _check_watch(run_dir, len(trials))
        if "report" in case.commands:
            _check_report(run_dir, capsys)
    if case.export is not None:
        _check_predictions(case, run_dir, files, scratch, capsys)
        if "serve" in case.commands and case.arg("model") == "gan":
            _check_generate(run_dir)
