"""Two-phase discovery with entry points built in memory: good, broken, duplicate, invalid."""

from __future__ import annotations

import pytest
from helpers import entry_point

from automl.errors import PluginError
from automl.registry import MODEL_GROUP, discover_data, discover_models


def test_builtins_register_through_entry_points():
    models, data = discover_models(), discover_data()
    assert {"cnn", "mlp"} <= set(models.names())
    assert {"digits", "breast_cancer", "wine"} <= set(data.names())
    assert models.info("cnn").package == "automl"
    assert not models.failures


def test_good_plugin_is_loaded_with_its_package(dist_factory):
    ep = entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist_factory("automl-good", "1.2"))
    reg = discover_models([ep])
    assert reg.names() == ["good"]
    info = reg.info("good")
    assert (info.package, info.version) == ("automl-good", "1.2")
    assert reg.get("good").default_data == "wine"


def test_broken_import_is_a_named_failure_and_others_still_load(dist_factory):
    eps = [
        entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist_factory("automl-good")),
        entry_point(
            "broken", "no_such_module_x:PLUGIN", MODEL_GROUP, dist_factory("automl-broken", "0.3")
        ),
    ]
    reg = discover_models(eps)
    assert reg.names() == ["good"]
    failure = reg.failures["broken"]
    assert failure.package == "automl-broken" and failure.version == "0.3"
    assert "ModuleNotFoundError" in failure.reason
    with pytest.raises(PluginError, match=r"plugin 'broken' from package automl-broken 0.3 failed"):
        reg.get("broken")


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("bad_space", "fake_plugins:BAD_SPACE", "low (1.0) > high (0.1)"),
        ("future_api", "fake_plugins:FUTURE_API", "plugin API 99"),
        ("dict", "fake_plugins:NOT_A_PLUGIN", "not a ModelPlugin"),
        ("other", "fake_plugins:GOOD", "named 'other' but the plugin calls itself 'good'"),
        ("missing_attr", "fake_plugins:NOPE", "NOPE"),
    ],
)
def test_invalid_plugins_are_reported_with_reason(dist_factory, name, value, reason):
    reg = discover_models([entry_point(name, value, MODEL_GROUP, dist_factory("automl-x"))])
    assert name in reg.failures
    assert reason in reg.failures[name].reason
    assert reg.names() == []


def test_duplicate_names_from_two_packages_name_both(dist_factory):
    eps = [
        entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist_factory("pkg-a", "1.0")),
        entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist_factory("pkg-b", "2.0")),
    ]
    reg = discover_models(eps)
    assert "good" not in reg.plugins
    message = reg.failures["good"].reason
    assert "pkg-a 1.0" in message and "pkg-b 2.0" in message and "uninstall one" in message


def test_same_distribution_seen_twice_is_not_a_conflict(dist_factory):
    dist = dist_factory("pkg-a", "1.0")
    eps = [entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist)] * 2
    assert discover_models(eps).names() == ["good"]


def test_unknown_name_lists_available(dist_factory):
    reg = discover_models(
        [entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist_factory("a"))]
    )
    with pytest.raises(PluginError, match="unknown model 'nope'; available: good"):
        reg.get("nope")
