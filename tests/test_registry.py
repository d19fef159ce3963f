"""Two-phase discovery with entry points built in memory: good, broken, duplicate, invalid."""

from __future__ import annotations

import pytest
from helpers import entry_point

from automl.core.errors import PluginError
from automl.core.registry import MODEL_GROUP, discover_data, discover_models


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
        (
            "callable_config",
            "fake_plugins:CALLABLE_CONFIG",
            "config CallableConfig cannot be a Hydra config: field 'schedule'",
        ),
        ("space_typo", "fake_plugins:SPACE_TYPO", "space.hiden: the model config has no field"),
        ("space_wrong_type", "fake_plugins:SPACE_WRONG_TYPE", "value 'small' does not fit"),
        ("exits", "fake_exiting_plugin:PLUGIN", "SystemExit(3) while loading"),
        ("aborts", "fake_base_exception_plugin:PLUGIN", "Abort: the plugin gave up"),
        (
            "batch_field_typo",
            "fake_plugins:BATCH_FIELD_TYPO",
            "batch_size_field 'batchsize' is not an int field of config TinyConfig",
        ),
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


def test_failures_are_one_line_and_the_good_plugin_still_loads(dist_factory):
    dist = dist_factory("automl-broken", "0.1")
    broken = {
        "callable_config": "fake_plugins:CALLABLE_CONFIG",
        "space_typo": "fake_plugins:SPACE_TYPO",
        "exits": "fake_exiting_plugin:PLUGIN",
        "aborts": "fake_base_exception_plugin:PLUGIN",
    }
    eps = [entry_point(n, v, MODEL_GROUP, dist) for n, v in broken.items()]
    eps.append(entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist_factory("automl-good")))
    reg = discover_models(eps)
    assert reg.names() == ["good"]
    assert sorted(reg.failures) == sorted(broken)
    for failure in reg.failures.values():
        assert "\n" not in failure.reason and failure.reason
        assert failure.message().startswith(f"plugin '{failure.name}' from package automl-broken")


def test_register_configs_stores_the_good_plugin_beside_failed_ones(dist_factory):
    """What used to break every command: registering the configs of what discovery kept."""
    from helpers import compose

    dist = dist_factory("automl-broken", "0.1")
    eps = [
        entry_point("callable_config", "fake_plugins:CALLABLE_CONFIG", MODEL_GROUP, dist),
        entry_point("space_typo", "fake_plugins:SPACE_TYPO", MODEL_GROUP, dist),
        *[entry_point(n, f"automl_plugins.{n}:PLUGIN", MODEL_GROUP, dist) for n in ("mlp",)],
    ]
    models = discover_models(eps)
    assert models.names() == ["mlp"]
    cfg = compose(["model=mlp", "data=breast_cancer"], models=models)
    assert cfg.model.hidden == 128


def test_ctrl_c_during_a_plugin_import_is_not_swallowed(dist_factory):
    ep = entry_point("intr", "fake_interrupt_plugin:PLUGIN", MODEL_GROUP, dist_factory("a"))
    with pytest.raises(KeyboardInterrupt):
        discover_models([ep])


def test_plugin_names_must_be_usable_as_options(dist_factory):
    from automl.core.plugin import ModelPlugin, check_name

    for good in ("cnn", "my-model", "my_model2", "_x"):
        check_name("p", good)
    for bad in ("", "my model", "a-b c", "x=y", "-lead", "9lives", "a.b"):
        with pytest.raises(PluginError, match="is not usable as model=/data= option"):
            check_name("p", bad)
    from fake_plugins import TinyConfig

    with pytest.raises(PluginError, match="'my model-x' is not usable"):
        ModelPlugin("my model-x", TinyConfig, {}, "fake_model:build").validate()


def test_the_batch_size_comes_from_the_field_the_plugin_declares(dist_factory):
    from dataclasses import replace

    from omegaconf import OmegaConf

    from automl.core.plugin import DEFAULT_BATCH_SIZE

    reg = discover_models(
        [entry_point("nested_batch", "fake_plugins:NESTED_BATCH", MODEL_GROUP, dist_factory("x"))]
    )
    plugin = reg.get("nested_batch")
    cfg = OmegaConf.structured(plugin.config)
    assert plugin.batch_size_of(cfg) == 12
    cfg.loader.size = 48  # what a sampled or command-line value does to the composed config
    assert plugin.batch_size_of(cfg) == 48
    # A plugin that declares none, and one left at the default name its config lacks (a
    # third-party plugin written before the field existed), train with the default size.
    assert replace(plugin, batch_size_field=None).batch_size_of(cfg) == DEFAULT_BATCH_SIZE
    assert replace(plugin, batch_size_field="batch_size").batch_size_of(cfg) == DEFAULT_BATCH_SIZE
