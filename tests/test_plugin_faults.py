"""A plugin's own code failing on a user's path (issue 20): one broken plugin never stops
``model=auto``, a swallowed pruning signal still prunes, and whatever a plugin's code raises
is one line naming the plugin and its package, with its traceback kept where the line says.

Each runs ``automl.__main__.main`` in this process with the fake plugins of
``tests/fake_faults.py`` / ``tests/fake_plugins.py`` installed as entry points of a package
``matrix-fakes``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import install_entry_points
from matrix_checks import run_main, stored_trials


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    """Install the fake plugins (this process only) and run in ``tmp_path``."""
    groups = {
        "automl.models": {
            "not_lightning": "fake_plugins:NOT_LIGHTNING",
            "swallows": "fake_faults:SWALLOWS",
            "picky": "fake_faults:PICKY",
        },
        "automl.data": {"broken": "fake_faults:BROKEN"},
    }
    site = install_entry_points(tmp_path / "site", "matrix-fakes", "0.1", groups)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _traceback_file(line: str) -> Path:
    assert line.endswith(")") and "(traceback in " in line, line
    return Path(line.rsplit("(traceback in ", 1)[1][:-1])


def test_model_auto_leaves_out_a_family_that_fails_its_preflight(fakes, capsys):
    run_dir = fakes / "auto"
    ran = run_main(
        ["model=auto", "data=wine", "data.folds=0", "sweep.n_trials=3",
         "sweep.enqueue_defaults=false", "model.xgboost.n_estimators=30",
         "space.forest.n_estimators=10", "trainer.max_epochs=2", "sweep.report=false",
         f"hydra.run.dir={run_dir}"],
        capsys,
    )  # fmt: skip
    assert ran.rc == 0, ran.tail()
    (note,) = [line for line in ran.out.splitlines() if "not_lightning" in line]
    assert note == (
        "note: model=auto: not_lightning (matrix-fakes 0.1) left out: its preflight failed "
        "(model 'not_lightning': build returned torch.nn.modules.linear.Linear, not a "
        "pytorch_lightning.LightningModule (kind='lightning'); wrap a network in "
        "automl.lightning.SupervisedModule(net, spec), or declare kind='estimator'); "
        "model=not_lightning shows the whole error"
    )
    trials = stored_trials(run_dir)
    assert len(trials) == 3 and {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    choices = trials[0].distributions["family"].choices
    assert "not_lightning" not in choices and {"linear", "xgboost"} <= set(choices)
    # Asked for by name, the same plugin is still one line, exit 2, and nothing is left.
    alone = run_main(["model=not_lightning", "data=wine", f"hydra.run.dir={fakes / 'x'}"], capsys)
    assert alone.rc == 2, alone.tail()
    (line,) = alone.err.strip().splitlines()
    assert line == (
        "automl: error: model 'not_lightning': build returned torch.nn.modules.linear.Linear, "
        "not a pytorch_lightning.LightningModule (kind='lightning'); wrap a network in "
        "automl.lightning.SupervisedModule(net, spec), or declare kind='estimator'"
    )
    assert not (fakes / "x").exists()


def test_an_estimator_that_swallows_the_pruning_signal_is_pruned_with_a_note(fakes, capsys):
    run_dir = fakes / "swallows"
    # No trial reaches accuracy 2: each is told to stop at step 1, after the warm-up step.
    ran = run_main(
        ["model=swallows", "data=wine", "sweep.n_trials=3", "sweep.pruner=threshold",
         "+sweep.pruner_args.lower=2.0", "+sweep.pruner_args.n_warmup_steps=1",
         "sweep.report=false", f"hydra.run.dir={run_dir}"],
        capsys,
    )  # fmt: skip
    assert ran.rc == 1, ran.tail()  # no trial completed
    trials = stored_trials(run_dir)
    assert [t.state.name for t in trials] == ["PRUNED"] * 3
    for t in trials:
        assert sorted(t.intermediate_values) == [0, 1]  # nothing reported after the prune
        assert t.user_attrs["epochs"] == 2
        assert "swallowed the pruning signal" in t.user_attrs["note"]
    rows = json.loads((run_dir / "leaderboard.json").read_text())["trials"]
    assert all(r["note"].startswith("pruned after step 2; the model's fit swallowed") for r in rows)
    assert "3 trial(s): the model's fit swallowed the pruning signal" in ran.out


def test_a_data_plugin_whose_load_raises_is_one_line_naming_it_and_leaves_nothing(fakes, capsys):
    run_dir = fakes / "runs" / "linear-broken"
    ran = run_main(["model=linear", "data=broken", f"hydra.run.dir={run_dir}"], capsys)
    assert ran.rc == 2, ran.tail()
    (line,) = ran.err.strip().splitlines()
    assert line.startswith(
        "automl: error: data plugin 'broken' from package matrix-fakes 0.1 failed in load: "
        "ValueError: could not convert string to float: 'n/a'; "
    )
    assert "Traceback" not in ran.out
    saved = _traceback_file(line).read_text()
    assert "load_broken" in saved and "ValueError" in saved
    assert not (fakes / "runs").exists(), "a refused run left its directory behind"


def test_a_data_plugins_own_user_error_reaches_the_user_as_written(fakes, capsys):
    ran = run_main(["model=linear", "data=broken", "data.fail=option",
                    f"hydra.run.dir={fakes / 'r'}"], capsys)  # fmt: skip
    assert ran.rc == 2, ran.tail()
    assert ran.err.strip() == (
        "automl: error: data.fail=option: this data set has no such option; use data.fail=none"
    )
    assert not (fakes / "r").exists()


def test_a_resumed_study_keeps_the_plugins_traceback_in_its_log(fakes, capsys):
    run_dir = fakes / "study"
    args = ["model=linear", "data=broken", "sweep.n_trials=1", "sweep.report=false",
            f"hydra.run.dir={run_dir}"]  # fmt: skip
    assert run_main([*args, "data.fail=none"], capsys).rc == 0
    ran = run_main([*args, "data.fail=value"], capsys)
    assert ran.rc == 2, ran.tail()
    (line,) = ran.err.strip().splitlines()
    assert _traceback_file(line) == run_dir / "automl.log"
    log = (run_dir / "automl.log").read_text()
    assert "data plugin 'broken'" in log and "load_broken" in log
    assert len(stored_trials(run_dir)) == 1  # the study is as it was


def test_a_models_predict_that_raises_is_one_line_naming_the_plugin(fakes, capsys):
    import numpy as np
    from sklearn.datasets import load_wine

    run_dir = fakes / "picky"
    ran = run_main(["model=picky", "data=wine", "sweep.n_trials=1", "sweep.report=false",
                    f"hydra.run.dir={run_dir}"], capsys)  # fmt: skip
    assert ran.rc == 0, ran.tail()
    np.savez(fakes / "rows.npz", x=load_wine().data[:7])
    out = run_main(["predict", str(run_dir), str(fakes / "rows.npz")], capsys)
    assert out.rc == 2, out.tail()
    (line,) = out.err.strip().splitlines()
    assert line.startswith(
        "automl: error: model plugin 'picky' from package matrix-fakes 0.1 failed in predict: "
        "ValueError: operands could not be broadcast together"
    )
    assert "fake_faults.py" in _traceback_file(line).read_text()
    assert not (fakes / "predictions.csv").exists()
