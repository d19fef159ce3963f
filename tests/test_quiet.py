"""Quiet, clear output: override typos are one line, Lightning's banners and tips never show."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import run_cli

from automl.backends.quiet import NOISE


def test_a_typo_in_an_override_names_the_closest_key_and_exits_2(tmp_path):
    out = run_cli(["sweep.n_trails=5", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "automl: error: sweep.n_trails=5: no such setting; did you mean sweep.n_trials?"
    )
    assert "+sweep.n_trails" not in out.stderr and not (tmp_path / "run").exists()
    nested = run_cli(["trainer.max_epoch=3", "--cfg", "job"], tmp_path)
    assert nested.returncode == 2 and "did you mean trainer.max_epochs?" in nested.stderr


def test_pinning_a_parameter_the_model_does_not_search_lists_what_it_searches(tmp_path):
    out = run_cli(["model=mlp", "space.optimizer=sgd", "--cfg", "job"], tmp_path)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "model mlp does not search 'optimizer'; it searches activation, batch_size," in line
    assert "model.optimizer=sgd" in line and "'+space.optimizer={type:" in line


def test_a_key_of_an_open_mapping_is_added_with_plus_and_valid_overrides_pass(tmp_path):
    out = run_cli(["sweep.pruner_args.n_startup_trials=3", "--cfg", "job"], tmp_path)
    assert out.returncode == 2
    assert "add it with +sweep.pruner_args.n_startup_trials=3" in out.stderr
    ok = run_cli(
        ["+sweep.pruner_args.n_startup_trials=3", "space.lr=0.01", "sweep.n_trials=4"]
        + ["--cfg", "job"],
        tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert "n_startup_trials: 3" in ok.stdout and "n_trials: 4" in ok.stdout


@pytest.mark.heavy
def test_a_run_prints_no_lightning_banners_or_tips(tmp_path):
    run_dir = tmp_path / "run"
    args = ["model=mlp", "sweep.n_trials=2", "trainer.max_epochs=1", f"hydra.run.dir={run_dir}"]
    out = run_cli(args, tmp_path)
    assert out.returncode == 0, out.stderr
    log = (run_dir / "automl.log").read_text()
    for where, text in (("stdout", out.stdout), ("stderr", out.stderr), ("automl.log", log)):
        for noise in NOISE:
            assert noise not in text, f"{noise!r} in {where}:\n{text}"
    assert out.stdout.count("[trial") == 2  # the run itself still reports


@pytest.mark.heavy
def test_quiet_lightning_holds_when_a_level_is_reset_after_it(tmp_path):
    """Records are filtered by content too, so a reset level does not bring the noise back."""
    code = """
import io, logging
stream = io.StringIO()
logging.basicConfig(level=logging.INFO, stream=stream)  # a root handler, as Hydra installs
from automl.backends.quiet import quiet_lightning, NOISE
quiet_lightning()
import pytorch_lightning as pl
pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
logging.getLogger("pytorch_lightning").setLevel(logging.INFO)
logging.getLogger("pytorch_lightning.utilities.rank_zero").setLevel(logging.INFO)
import sys
pl.Trainer(accelerator="cpu", logger=True, enable_progress_bar=False,
           default_root_dir=sys.argv[1])
logging.getLogger("pytorch_lightning").info("kept: a message of our own")
text = stream.getvalue()
print("NOISY" if any(n in text for n in NOISE) else "QUIET", "kept" in text)
"""
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["QUIET", "True"], out.stdout + out.stderr
    assert not any(n in out.stderr for n in NOISE), out.stderr


def test_accelerator_line_says_where_trials_train():
    import torch

    from automl.backends.quiet import accelerator_line
    from automl.study.config import TrainerConfig

    line = accelerator_line(TrainerConfig(accelerator="auto", num_threads=2))
    if torch.cuda.is_available():
        assert line.startswith("trials train on GPU (") and torch.cuda.get_device_name(0) in line
    else:
        assert line.startswith(
            "trials train on CPU (no GPU found, 2 threads per trial (trainer.num_threads);"
        )
    assert "trainer.accelerator=auto" in line
    cpu = accelerator_line(TrainerConfig(accelerator="cpu"))
    assert cpu.startswith("trials train on CPU (") and "no GPU found" not in cpu
