"""``python -m automl compare``: two stored studies side by side in one offline page and PNGs,
checked in a real browser (headless Chromium) where one is installed (CI installs it and
requires it: AUTOML_REQUIRE_CHROMIUM=1)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest
import yaml
from helpers import run_cli
from optuna.trial import FrozenTrial, TrialState

from automl.core.records import TrialRecord

X = {
    "lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
    "optimizer": optuna.distributions.CategoricalDistribution(["adam", "sgd"]),
}
T0 = dt.datetime(2026, 1, 1, 12, 0, 0)


def _run_dir(root: Path, name: str, values: list[float], lr: float, seconds: float) -> Path:
    """A run directory as a study leaves it: ``study.db`` with trials of known times and
    values, and the run's saved config."""
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    study = optuna.create_study(
        study_name=name, storage=f"sqlite:///{run / 'study.db'}", direction="maximize"
    )
    study.set_user_attr("metric", "acc")
    for i, value in enumerate(values):
        state = TrialState.PRUNED if value < 0.5 else TrialState.COMPLETE
        start = T0 + dt.timedelta(seconds=seconds * i)
        attrs = TrialRecord(metrics={"val_acc": value}, worker="h/1/42").attrs()
        study.add_trial(
            FrozenTrial(
                number=i, state=state, value=value if state == TrialState.COMPLETE else None,
                datetime_start=start, datetime_complete=start + dt.timedelta(seconds=seconds),
                params={"lr": lr * (1 + i / 10), "optimizer": "adam" if i % 2 else "sgd"},
                distributions=X, user_attrs=attrs, system_attrs={},
                intermediate_values={0: value}, trial_id=i,
            )
        )  # fmt: skip
    config = {
        "model": {"lr": lr, "channels": 32},
        "sweep": {"n_trials": len(values), "sampler": "tpe" if lr < 0.01 else "random"},
        "trainer": {"max_epochs": 20},
        "hydra": {"run": {"dir": str(run)}},
    }
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    return run


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("compare")
    a = _run_dir(root, "base", [0.80, 0.85, 0.3, 0.88, 0.87], 0.001, 10.0)
    b = _run_dir(root, "change", [0.82, 0.91, 0.93, 0.2, 0.94, 0.95], 0.02, 6.0)
    out = run_cli(["compare", str(a), str(b), "--out", str(root / "cmp")], root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"comparison: {root / 'cmp' / 'index.html'}",
        "figures: compare_best_so_far.png, compare_history.png",
    ]
    return root / "cmp" / "index.html"


def test_the_page_puts_both_studies_side_by_side_offline(page):
    text = page.read_text()
    assert "<script src" not in text and "<link" not in text  # opens offline
    assert "automl compare: base vs change" in text
    # best value, trials, time and best parameters of each
    assert "val_acc = 0.88 (#3)" in text and "val_acc = 0.95 (#5)" in text
    assert "5: complete 4, pruned 1" in text and "6: complete 5, pruned 1" in text
    assert "50.0s running trials, 360 trials/h" in text  # 5 trials of 10 s, one after another
    assert "36.0s running trials, 600 trials/h" in text
    # the config differences: only what differs, Hydra's own settings left out
    diff = text.split('id="config-differences"')[1].split("</table>")[0]
    assert "model.lr" in diff and "sweep.sampler" in diff and "sweep.n_trials" in diff
    assert "model.channels" not in diff and "trainer.max_epochs" not in diff
    assert "hydra.run.dir" not in diff
    for png in ("compare_history.png", "compare_best_so_far.png"):
        assert (page.parent / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_errors_are_one_line_exit_2(tmp_path):
    one = run_cli(["compare", str(tmp_path)], tmp_path)
    assert one.returncode == 2 and "name two or more studies" in one.stderr
    missing = run_cli(["compare", str(tmp_path / "a"), str(tmp_path / "b")], tmp_path)
    assert missing.returncode == 2
    (line,) = missing.stderr.strip().splitlines()
    assert line.startswith("automl compare: error: ") and "not a run directory" in line


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


@pytest.mark.heavy
def test_the_page_draws_in_a_real_browser(page, tmp_path):
    browser = _chromium()
    if browser is None:
        message = "Chromium is not installed (Debian: apt-get install chromium); CI installs it"
        if os.environ.get("AUTOML_REQUIRE_CHROMIUM"):
            pytest.fail(message)
        pytest.skip(message)
    flags = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
    ]  # fmt: skip
    shot = tmp_path / "compare.png"
    subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
        capture_output=True,
        timeout=180,
        check=True,
    )
    dom = subprocess.run(
        [*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180
    ).stdout
    # plotly.js ran in the browser: each figure became an SVG plot with both studies' traces
    assert dom.count('class="main-svg"') >= 4, dom[:2000]
    assert dom.count("A: base best so far") >= 1 and dom.count("B: change") >= 2
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 1600)
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20)}
    # both studies' colours are on the screen (blue and orange lines and markers)
    assert any(
        abs(r - 0x1F) < 20 and abs(g - 0x77) < 20 and abs(b - 0xB4) < 20 for r, g, b in colours
    )
    assert any(
        abs(r - 0xFF) < 20 and abs(g - 0x7F) < 20 and abs(b - 0x0E) < 30 for r, g, b in colours
    )
    keep = os.environ.get("AUTOML_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
