"""Bad input is refused before the first trial, in one line, exit 2: a misspelt key of any group,
an objective no model reports, a value of the wrong type or outside what the model accepts, a
choice that is not one, a CSV far too wide. Real `python -m automl` processes where the user
meets it; the same checks in-process (compose + make_plan) for the variants."""

from __future__ import annotations

import io

import pytest
from helpers import compose, run_cli

from automl.cli.argv import check_overrides
from automl.core.errors import DataError, UserError
from automl.core.registry import discover_data, discover_models
from automl.study.plan import make_plan

FOREST = ["model=forest", "sweep.live=false", "space.n_estimators=20", "sweep.n_trials=2"]


def _refused(out, *words: str) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, (out.returncode, out.stderr[-3000:])
    assert lines[0].startswith("automl: error: ") and "Traceback" not in out.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_a_misspelt_model_key_is_refused_before_any_trial(tmp_path):
    run_dir = tmp_path / "run"
    out = run_cli(["model=mlp", "+model.dropuot=0.4", "trainer=fast", "sweep.live=false",
                   f"hydra.run.dir={run_dir}"], tmp_path)  # fmt: skip
    _refused(out, "model.dropuot=0.4", "did you mean model.dropout?")
    assert not run_dir.exists()  # no study, no trial, no best/


@pytest.mark.parametrize("override, words", [
    ("+sweep.n_trails=3", "did you mean sweep.n_trials?"),
    ("+trainer.max_epoch=3", "did you mean trainer.max_epochs?"),
    ("+data.sed=1", "did you mean data.seed?"),
    ("+sweep.slurm.partiton=gpu", "did you mean sweep.slurm.partition?"),
    ("+n_trials=5", "its settings: data, model, space, sweep, trainer, plugins"),
])  # fmt: skip
def test_a_misspelt_key_of_any_group_is_refused(override, words):
    models, datasets = discover_models(), discover_data()
    cfg = compose(["model=forest", "data=wine", override], models, datasets)
    with pytest.raises(UserError, match="no setting") as err:
        make_plan(cfg, "forest", "wine", models, datasets, "unused")
    assert words in str(err.value) and "\n" not in str(err.value)


def test_free_form_settings_still_take_any_key():
    models, datasets = discover_models(), discover_data()
    extra = ["+sweep.sampler_args.n_startup_trials=3", "+sweep.slurm.additional.account=lab"]
    cfg = compose(["model=forest", "data=wine", *extra], models, datasets)
    plan = make_plan(cfg, "forest", "wine", models, datasets, "unused")
    assert plan.sweep.sampler_args == {"n_startup_trials": 3}


def test_model_auto_checks_each_familys_keys():
    models, datasets = discover_models(), discover_data()
    cfg = compose(["model=auto", "data=wine", "+model.xgboost.max_dept=3"], models, datasets)
    with pytest.raises(UserError, match=r"did you mean model\.xgboost\.max_depth\?"):
        make_plan(cfg, "auto", "wine", models, datasets, "unused")


def test_an_objective_no_model_reports_is_refused_before_training(tmp_path):
    run_dir = tmp_path / "run"
    out = run_cli(
        [*FOREST, "sweep.objectives=[val_nope:max]", f"hydra.run.dir={run_dir}"], tmp_path
    )
    _refused(out, "model forest reports no val_nope", "val_acc, val_f1", "n_params")
    assert not run_dir.exists()


def test_a_constraint_on_a_metric_the_model_does_not_report_is_refused(tmp_path):
    out = run_cli(["model=forest", "sweep.live=false", "sweep.constraints=['val_loss<=1']",
                   f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)  # fmt: skip
    _refused(out, "sweep.constraints: model forest reports no val_loss")


def test_a_value_of_the_wrong_type_is_one_line(tmp_path):
    out = run_cli([*FOREST, "sweep.n_trials=abc", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    _refused(out, "sweep.n_trials=abc: sweep.n_trials takes a whole number, e.g. sweep.n_trials=")


@pytest.mark.parametrize("override, words", [
    ("sweep.pruner=medain", "sweep.pruner='medain' is not one of median, percentile,"),
    ("sweep.engine=optna", "sweep.engine='optna' is not one of optuna, none"),
    ("sweep.direction=max", "sweep.direction='max' is not one of auto, maximize, minimize"),
    ("sweep.resume=yes", "sweep.resume='yes' is not one of auto, force"),
    ("sweep.launcher=k8s", "sweep.launcher='k8s' is not one of local, slurm"),
    ("sweep.sampler=bayes", "sweep.sampler='bayes' is not one of tpe, random, gp, cmaes"),
    ("sweep.live=maybe", "sweep.live=maybe: sweep.live takes true or false, e.g. sweep.live=true"),
])  # fmt: skip
def test_the_sweeps_choices_are_typed_and_checked_when_composed(override, words):
    compose(["model=forest"])  # registers the plugins' configs, as the command line does
    with pytest.raises(UserError) as err:
        check_overrides(["model=forest", "data=wine", override])
    assert words in str(err.value) and "\n" not in str(err.value)


def test_the_choices_are_strings_to_the_code_that_reads_them():
    from omegaconf import OmegaConf

    from automl.study.choices import Pruner

    cfg = compose(["model=forest", "sweep.pruner=hyperband"])
    sweep = OmegaConf.to_object(cfg.sweep)
    assert sweep.pruner is Pruner.hyperband and sweep.pruner == "hyperband"
    assert f"{sweep.pruner}" == "hyperband" and OmegaConf.to_yaml(cfg.sweep).count("hyperband")


def test_a_value_the_model_refuses_is_refused_before_any_trial(tmp_path):
    run_dir = tmp_path / "run"
    out = run_cli(["model=mlp", "model.hidden=0", "trainer=fast", "sweep.live=false",
                   f"hydra.run.dir={run_dir}"], tmp_path)  # fmt: skip
    _refused(out, "model.hidden=0 must be >= 1", "model mlp refuses it")
    assert not run_dir.exists()


@pytest.mark.parametrize("model, override, words", [
    ("mlp", "space.dropout.high=1.5", "space.dropout reaches 1.5"),
    ("xgboost", "space.subsample.low=0.0", "model.subsample=0.0 must be in (0, 1]"),
    ("forest", "model.max_features=2.0", "model.max_features=2.0 must be in (0, 1]"),
    ("linear", "model.class_weight=heavy", "model.class_weight='heavy' is not one of null"),
    ("cnn", "space.channels.choices=[0,16]", "model.channels=0 must be >= 1"),
])  # fmt: skip
def test_each_built_in_model_refuses_out_of_range_values(model, override, words):
    models, datasets = discover_models(), discover_data()
    cfg = compose([f"model={model}", "data=digits", override], models, datasets)
    with pytest.raises(UserError) as err:
        make_plan(cfg, model, "digits", models, datasets, "unused")
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.heavy
def test_a_csv_wider_than_max_columns_is_refused_at_its_header(tmp_path):
    columns = 20_001
    with open(tmp_path / "wide.csv", "w") as f:
        f.write(",".join(f"c{i}" for i in range(columns)) + ",y\n")
        for r in range(4):
            f.write(",".join(["1"] * columns) + f",{r % 2}\n")
    args = ["model=forest", "sweep=none", "data=csv", "data.path=wide.csv", "data.target=y"]
    out = run_cli([*args, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    _refused(out, "has 20002 columns, more than data.max_columns=10000", "raise data.max_columns")
    # The limit is the user's to raise; then the (tiny) table is read as before.
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("a,b,c,y\n" + "".join(f"{i},{i % 3},{i % 5},{i % 2}\n" for i in range(40)))
    out = run_cli([*args[:3], "data.path=narrow.csv", "data.target=y", "data.max_columns=3",
                   f"hydra.run.dir={tmp_path / 'run2'}"], tmp_path)  # fmt: skip
    _refused(out, "has 4 columns, more than data.max_columns=3")
    out = run_cli([*args[:3], "data.path=narrow.csv", "data.target=y", "data.max_columns=4",
                   f"hydra.run.dir={tmp_path / 'run2'}"], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]


class _Counting(io.StringIO):
    """A text file that records how many characters were read from it."""

    read_chars = 0

    def readline(self, size=-1):
        line = super().readline(size)
        self.read_chars += len(line)
        return line


def test_an_overlong_line_is_refused_without_being_read_whole(tmp_path):
    from automl.data.table import CsvConfig, bounded_lines, load_csv

    text = "x" * 1_000_000 + ",y\n1,0\n"
    f = _Counting(text)
    with pytest.raises(DataError, match=r"line 1 is longer than 1000 characters"):
        list(bounded_lines(f, "big.csv", 1000))
    assert f.read_chars <= 1001  # a millionth of the line, never the line
    path = tmp_path / "big.csv"
    path.write_text(text)
    cfg = CsvConfig(path=str(path), target="y", max_line_chars=1000)
    with pytest.raises(DataError, match=r"data.max_line_chars=1000.*raise data.max_line_chars"):
        load_csv(cfg)


def test_the_task_metric_names_are_the_metrics_automl_computes():
    import numpy as np

    from automl.core.metrics import task_metrics
    from automl.core.plugin import TASK_METRIC_NAMES

    y = np.array([0, 1, 1, 0])
    for task, names in TASK_METRIC_NAMES.items():
        assert tuple(task_metrics(task, y, y)) == names
