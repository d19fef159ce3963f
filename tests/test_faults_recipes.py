"""Recipes are configuration: a recipe (or a command line) cannot make Hydra run code or write
files before automl starts, through its logging handlers or any other Hydra key, unless the
user opts in (AUTOML_ALLOW_HYDRA_CALLBACKS=1). Real processes, real files."""

from __future__ import annotations

import pytest
from helpers import run_cli

ONE_FIT = ["model=forest", "sweep=none", "sweep.live=false", "model.n_estimators=10"]
ALLOW = "AUTOML_ALLOW_HYDRA_CALLBACKS"


def _recipe(tmp_path, name: str, hydra_yaml: str):
    folder = tmp_path / "mine" / "recipe"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(f"# @package _global_\nhydra:\n{hydra_yaml}")
    return ["--config-dir", str(tmp_path / "mine"), f"+recipe={name}"]


def _one_line_refusal(out, *expected: str) -> None:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert f"{ALLOW}=1" in lines[0] and all(e in lines[0] for e in expected), lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.heavy
def test_a_logging_file_handler_in_a_recipe_cannot_empty_a_file(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("a week of notes\n")
    recipe = _recipe(
        tmp_path,
        "quiet_logs",
        "  job_logging:\n    version: 1\n    handlers:\n      evil:\n"
        f"        class: logging.FileHandler\n        filename: {victim}\n        mode: w\n"
        "    root:\n      handlers: [evil]\n",
    )
    run_dir = tmp_path / "run"
    out = run_cli([*recipe, *ONE_FIT, f"hydra.run.dir={run_dir}"], tmp_path)
    _one_line_refusal(out, "hydra.job_logging (handlers.evil)", "the recipe")
    assert victim.read_text() == "a week of notes\n" and not run_dir.exists()
    # Trusted, it is Hydra's to run: the handler takes the file over.
    out = run_cli([*recipe, *ONE_FIT, f"hydra.run.dir={run_dir}"], tmp_path, env={ALLOW: "1"})
    assert out.returncode == 0, out.stderr
    assert victim.read_text() != "a week of notes\n"


def test_a_logging_factory_in_a_recipe_cannot_create_a_file(tmp_path):
    created = tmp_path / "created.txt"
    recipe = _recipe(
        tmp_path,
        "opener",
        "".join(
            f'  {which}:\n    version: 1\n    handlers:\n      evil:\n        "()": builtins.open\n'
            f"        file: {created}\n        mode: w\n    root:\n      handlers: [evil]\n"
            for which in ("hydra_logging", "job_logging")
        ),
    )
    out = run_cli([*recipe, *ONE_FIT, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    _one_line_refusal(out, "hydra.hydra_logging (handlers.evil)", "hydra.job_logging")
    assert not created.exists()


@pytest.mark.parametrize("hydra_yaml, named", [
    ("  job:\n    env_set:\n      LD_PRELOAD: /tmp/evil.so\n", "hydra.job.env_set"),
    ("  output_subdir: /tmp/elsewhere\n", "hydra.output_subdir"),
    ("  mode: MULTIRUN\n  launcher:\n    _target_: builtins.print\n", "hydra.launcher"),
])  # fmt: skip
def test_other_hydra_keys_that_name_code_or_files_are_refused(tmp_path, hydra_yaml, named):
    recipe = _recipe(tmp_path, "sneaky", hydra_yaml)
    out = run_cli([*recipe, *ONE_FIT, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    _one_line_refusal(out, named)


def test_logging_handlers_typed_on_the_command_line_are_refused_too(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("notes\n")
    out = run_cli(
        [
            *ONE_FIT,
            "+hydra.job_logging.handlers.evil.class=logging.FileHandler",
            f"+hydra.job_logging.handlers.evil.filename={victim}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        tmp_path,
    )
    _one_line_refusal(out, "the command line", "hydra.job_logging.handlers.evil.class")
    assert victim.read_text() == "notes\n"
    out = run_cli(
        [*ONE_FIT, "hydra/job_logging=default", f"hydra.run.dir={tmp_path / 'r'}"], tmp_path
    )
    _one_line_refusal(out, "hydra/job_logging")
