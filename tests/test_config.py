"""Config composition: every group, command-line overrides, recipes, default data per model."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import compose
from omegaconf import OmegaConf

from automl.cli.argv import with_default_data
from automl.core.registry import discover_models
from automl.study.config import SweepConfig, TrainerConfig

SWEEPS = Path(__file__).parents[1] / "sweeps"


@pytest.mark.parametrize("model", ["cnn", "mlp"])
@pytest.mark.parametrize("sweep", ["optuna", "none", "hyperband"])
def test_every_model_and_sweep_composes(model, sweep):
    cfg = compose([f"model={model}", f"sweep={sweep}", "trainer=fast"])
    assert cfg.sweep.engine in ("optuna", "none")
    assert cfg.trainer.max_epochs == 2
    # the space group follows the model choice
    assert set(cfg.space) == set(discover_models().get(model).search_space)
    assert isinstance(OmegaConf.to_object(cfg.sweep), SweepConfig)
    assert isinstance(OmegaConf.to_object(cfg.trainer), TrainerConfig)


@pytest.mark.parametrize("data", ["digits", "breast_cancer", "wine"])
def test_every_data_set_composes(data):
    cfg = compose([f"data={data}", "data.seed=3"])
    assert cfg.data.seed == 3


def test_any_value_is_overridable_and_typed():
    cfg = compose(["model.lr=0.5", "space.lr.low=0.001", "~space.depth", "sweep.n_trials=7"])
    assert cfg.model.lr == 0.5 and cfg.space.lr.low == 0.001 and "depth" not in cfg.space
    assert cfg.sweep.n_trials == 7
    with pytest.raises(Exception, match="n_trials"):
        compose(["sweep.n_trials=many"])
    with pytest.raises(Exception, match="nope"):
        compose(["model.nope=1"])


def test_default_data_follows_the_model():
    models = discover_models()
    assert with_default_data(["model=mlp"], models) == ["data=breast_cancer", "model=mlp"]
    assert with_default_data([], models) == ["data=digits"]
    assert with_default_data(["model=mlp", "data=wine"], models) == ["model=mlp", "data=wine"]
    assert with_default_data(["+recipe=cnn_digits"], models) == ["+recipe=cnn_digits"]
    assert with_default_data(["model=unknown"], models) == ["model=unknown"]


@pytest.mark.parametrize("recipe", sorted(p.stem for p in SWEEPS.glob("*.yaml")))
def test_every_recipe_composes_and_names_its_model_and_data(recipe):
    text = (SWEEPS / f"{recipe}.yaml").read_text()
    assert text.startswith("# @package _global_")
    assert "override /data:" in text and "override /model:" in text
    cfg = compose([f"+recipe={recipe}"])
    assert cfg.sweep.n_trials >= 1 and cfg.sweep.engine == "optuna"
