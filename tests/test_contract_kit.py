"""The contract kit catches each hole it claims to: plugins that break one rule each are run
through ``ModelPluginContract`` by pytest itself (``pytester``), and the failure must be the
expected test, with a message naming the plugin, its config and what was expected."""

from __future__ import annotations

import subprocess
import sys

import fake_kit_plugins
import fake_model  # noqa: F401
import optuna  # noqa: F401
import pytest
import pytorch_lightning  # noqa: F401
import sklearn.model_selection  # noqa: F401

import automl.study.train  # noqa: F401

# pytester's in-process runs drop modules first imported inside them; C extensions (numpy,
# torch) cannot be imported twice, so everything the suite loads is imported here first.
import automl.testing.contract  # noqa: F401

pytest_plugins = ["pytester"]

SUITE = """
import pytest
import fake_kit_plugins
from automl.testing import ModelPluginContract

class TestPlugin(ModelPluginContract):
    @pytest.fixture
    def plugin(self):
        return fake_kit_plugins.{attr}
"""


def run_suite(pytester, attr: str, *args: str):
    pytester.makepyfile(test_suite=SUITE.format(attr=attr))
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)


@pytest.mark.parametrize(
    ("attr", "test", "expected"),
    [
        # the old check (`isidentifier() and ... or "-" in name`) let any name with "-" through
        ("BAD_NAME_PLUGIN", "test_declaration_is_valid", "the name 'my model-x' cannot be"),
        ("PLAIN_MODULE_PLUGIN", "test_builds_from_defaults", "(a plain torch.nn.Module: wrap"),
        ("NO_SAVE_PLUGIN", "test_builds_from_defaults", "NoSave, which lacks save; a kind="),
        (
            "IGNORES_PRUNING_PLUGIN",
            "test_stops_when_report_says_so",
            "fit caught the automl.errors.TrialPruned that report raised at step 0 and trained on",
        ),
        ("UNSEEDED_PLUGIN", "test_same_seed_gives_the_same_metric", "two fits with seed=0 reached"),
        (
            "NAN_METRIC_PLUGIN",
            "test_trains_reports_and_reloads",
            "the validation metric became NaN or infinite (val_acc is nan at epoch 0); expected",
        ),
        (
            "COLUMN_PREDICTIONS_PLUGIN",
            "test_trains_reports_and_reloads",
            "returned an array of shape (36, 1); expected (36,): one class id per sample",
        ),
        (
            "NAN_PREDICTIONS_PLUGIN",
            "test_trains_reports_and_reloads",
            "became NaN or infinite (val_rmse is nan at step 0); expected a finite val_rmse",
        ),
        # LightningModules that are not SupervisedModules: the kit skipped their predictions
        (
            "NOISY_FORWARD_PLUGIN",
            "test_trains_reports_and_reloads",
            "two predictions of the same inputs differ",
        ),
        (
            "WIDE_OUTPUT_PLUGIN",
            "test_trains_reports_and_reloads",
            "returned an array of shape (89, 2); expected (89,): one value per sample",
        ),
    ],
)
def test_the_kit_catches_each_broken_plugin_with_a_message_that_says_why(
    pytester, attr, test, expected
):
    plugin = getattr(fake_kit_plugins, attr)
    result = run_suite(pytester, attr, "-k", test)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"FAILED test_suite.py::TestPlugin::{test}" in out
    assert expected in out
    assert f"plugin '{plugin.name}'" in out
    if attr != "BAD_NAME_PLUGIN":  # declaration checks run before any config exists
        assert f"with config {plugin.config.__name__}(" in out


@pytest.mark.parametrize(
    "attr", ["GOOD_ESTIMATOR", "GOOD_REGRESSOR", "GOOD_LIGHTNING", "GOOD_LIGHTNING_REGRESSOR"]
)
def test_a_plugin_that_keeps_every_rule_passes_the_whole_kit(pytester, attr):
    result = run_suite(pytester, attr)
    result.assert_outcomes(passed=9)


def test_checks_and_tiny_data_import_without_pytest():
    """``automl.testing`` needs pytest only for ``ModelPluginContract`` (automl[testing])."""
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "import automl.testing as t\n"
        "from automl.testing import check_declaration, check_prunes, tiny_dataset\n"
        "from automl.core.registry import discover_models\n"
        "plugin = discover_models().get('xgboost')\n"
        "check_declaration(plugin)\n"
        "check_prunes(plugin, plugin.config(), tiny_dataset(plugin))\n"
        "try:\n"
        "    t.ModelPluginContract\n"
        "except ImportError:\n"
        "    print('suite needs pytest')\n"
        "print(t.CONTRACT_VERSION)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["suite", "needs", "pytest", "1.1"]
