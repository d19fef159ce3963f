"""Search spaces: parsing, validation against the model config, sampling with a live trial."""

from __future__ import annotations

import optuna
import pytest
from automl_plugins.cnn import PLUGIN as CNN
from automl_plugins.cnn import CNNConfig
from omegaconf import OmegaConf

from automl.core.errors import SpaceError
from automl.core.space import Choice, Fixed, Float, Int, parse_space, space_to_node, validate_space


@pytest.fixture
def model_cfg():
    return OmegaConf.structured(CNNConfig)


def test_plugin_space_round_trips_through_config_form():
    node = space_to_node(CNN.search_space)
    assert parse_space(node) == dict(CNN.search_space)


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"lr": {"type": "float", "low": 1.0, "high": 0.1}}, "low (1.0) > high (0.1)"),
        ({"depth": {"type": "choice", "choices": []}}, "choices is empty"),
        (
            {"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}},
            "log scale needs low > 0",
        ),
        ({"lr": {"type": "gauss", "low": 0.0}}, "type must be one of float, int, choice"),
        ({"lr": {"type": "float", "low": 0.1}}, "needs ['high']"),
        ({"lr": {"type": "float", "low": 0.1, "high": 1, "steps": 2}}, "unknown key(s) ['steps']"),
        ({"depth": {"type": "int", "low": 1.5, "high": 3}}, "must be integers"),
        ({"depth": [1, 2]}, "a bare list is ambiguous"),
    ],
)
def test_invalid_parameters_are_rejected(node, message):
    with pytest.raises(SpaceError) as err:
        parse_space(node)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_field_lists_valid_fields(model_cfg):
    with pytest.raises(SpaceError, match=r"no field 'lrate'; valid fields: .*lr") as err:
        validate_space(
            parse_space({"lrate": {"type": "float", "low": 0.1, "high": 1.0}}), model_cfg
        )
    assert "batch_size" in str(err.value)


def test_float_on_int_field_is_rejected(model_cfg):
    with pytest.raises(SpaceError, match="field 'depth' is an int"):
        validate_space({"depth": Float(1.0, 3.0)}, model_cfg)


def test_choice_value_of_wrong_type_is_rejected(model_cfg):
    with pytest.raises(SpaceError, match="value 'wide' does not fit field 'channels'"):
        validate_space({"channels": Choice([16, "wide"])}, model_cfg)


def test_fixed_values_and_valid_space_pass(model_cfg):
    space = parse_space({"lr": 0.01, "depth": {"type": "int", "low": 1, "high": 2}})
    assert space["lr"] == Fixed(0.01)
    validate_space(space, model_cfg)


def test_suggest_uses_a_live_trial_within_bounds():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    space = {"lr": Float(1e-4, 1e-2, log=True), "depth": Int(1, 3), "opt": Choice(["a", "b"])}
    for _ in range(5):
        trial = study.ask()
        values = {name: p.suggest(trial, name) for name, p in space.items()}
        assert 1e-4 <= values["lr"] <= 1e-2
        assert values["depth"] in (1, 2, 3)
        assert values["opt"] in ("a", "b")
        assert trial.params == values
        study.tell(trial, 0.0)
