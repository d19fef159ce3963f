"""The model plugin contract, as pytest tests every plugin must pass."""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from automl.data import Dataset, Split, load_dataset
from automl.plugin import TASKS, ModelPlugin

__all__ = ["ModelPluginContract", "tiny_dataset"]


def tiny_dataset(plugin: ModelPlugin, n_train: int = 240, n_eval: int = 120) -> Dataset:
    """The plugin's default data set, cut to a few hundred samples (fast, same spec)."""
    from automl.registry import discover_data

    data_plugin = discover_data().get(plugin.default_data)
    full = load_dataset(data_plugin, data_plugin.config())
    out = copy.copy(full)
    out.train = Split(full.train.x[:n_train], full.train.y[:n_train])
    out.val = Split(full.val.x[:n_eval], full.val.y[:n_eval])
    out.test = Split(full.test.x[:n_eval], full.test.y[:n_eval])
    out.cache = {}

    def merged() -> Dataset:  # what a refit trains on: training and validation rows
        x = np.concatenate([out.train.x, out.val.x])
        y = np.concatenate([out.train.y, out.val.y])
        empty = Split(x[:0], y[:0])
        return dataclasses.replace(out, train=Split(x, y), val=empty, cache={}, merged=None)

    out.merged = merged
    return out


def _trainer(epochs: int = 1) -> Any:
    from automl.config import TrainerConfig

    return TrainerConfig(max_epochs=epochs, accelerator="cpu", eval_batch_size=512)


def _sampled_configs(plugin: ModelPlugin, n: int, seed: int = 0) -> list[Any]:
    import optuna
    from omegaconf import OmegaConf

    from automl.plan import trial_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    base = OmegaConf.structured(plugin.config)
    configs = []
    for _ in range(n):
        trial = study.ask()
        params = {name: p.suggest(trial, name) for name, p in plugin.search_space.items()}
        configs.append(OmegaConf.to_object(trial_config(base, params)))
        study.tell(trial, 0.0)
    return configs


def _outputs(plugin: ModelPlugin, model: Any, x: np.ndarray) -> np.ndarray | None:
    if plugin.kind == "estimator":
        return np.asarray(model.predict(x))
    if hasattr(model, "predict_array"):
        return np.asarray(model.predict_array(x))
    return None


class ModelPluginContract:
    """Tests every model plugin must pass. Override the ``plugin`` fixture (and, if the
    plugin's default data is not installed where the tests run, the ``dataset`` fixture)."""

    n_samples = 3  # space samples built in ``test_space_samples_build``

    @pytest.fixture
    def plugin(self) -> ModelPlugin:  # pragma: no cover - always overridden
        raise NotImplementedError("override the `plugin` fixture to return your ModelPlugin")

    @pytest.fixture
    def dataset(self, plugin: ModelPlugin) -> Dataset:
        """Small data of the plugin's default data set."""
        return tiny_dataset(plugin)

    def test_declaration_is_valid(self, plugin: ModelPlugin) -> None:
        from omegaconf import OmegaConf

        from automl.space import validate_space

        plugin.validate()
        assert plugin.name and plugin.name.isidentifier() or "-" in plugin.name
        assert set(plugin.tasks) <= set(TASKS)
        validate_space(dict(plugin.search_space), OmegaConf.structured(plugin.config))

    def test_accepts_its_default_data(self, plugin: ModelPlugin, dataset: Dataset) -> None:
        plugin.check_data(dataset.spec)
        metric, direction = plugin.objective(dataset.spec.task)
        assert metric and direction in ("maximize", "minimize")

    def test_builds_from_defaults(self, plugin: ModelPlugin, dataset: Dataset) -> None:
        from automl.plugin import resolve

        assert resolve(plugin.build)(plugin.config(), dataset.spec) is not None

    def test_space_samples_build(self, plugin: ModelPlugin, dataset: Dataset) -> None:
        from automl.plugin import resolve

        build = resolve(plugin.build)
        configs = _sampled_configs(plugin, self.n_samples)
        assert all(isinstance(c, plugin.config) for c in configs)
        for cfg in configs:
            assert build(cfg, dataset.spec) is not None

    def test_trains_reports_and_reloads(
        self, plugin: ModelPlugin, dataset: Dataset, tmp_path
    ) -> None:
        from automl import train

        reports: list[tuple[int, float]] = []

        def report(step: int, value: float) -> bool:
            reports.append((step, value))
            return False

        result = train.fit(
            plugin, plugin.config(), dataset, _trainer(), report=report, workdir=tmp_path, seed=0
        )
        metric, direction = plugin.objective(dataset.spec.task)
        assert math.isfinite(result.value)
        assert result.metrics[f"val_{metric}"] == pytest.approx(result.value)
        assert reports, "the plugin never reported an intermediate value, so it cannot be pruned"
        assert all(math.isfinite(v) for _, v in reports)
        assert result.artifact is not None
        if metric in ("acc", "f1", "precision", "recall"):
            assert 0.0 <= result.value <= 1.0
        if metric in ("rmse", "mae", "fd"):
            assert result.value >= 0.0

        reloaded = train.load_model(plugin, tmp_path, plugin.config(), dataset.spec)
        before = _outputs(plugin, result.model, dataset.test.x)
        after = _outputs(plugin, reloaded, dataset.test.x)
        if before is not None:
            np.testing.assert_array_equal(before, after)
        if plugin.kind == "lightning":
            for (k, a), (k2, b) in zip(
                result.model.state_dict().items(), reloaded.state_dict().items(), strict=True
            ):
                assert k == k2
                assert np.array_equal(a.cpu().numpy(), b.cpu().numpy()), k
        test = train.evaluate(plugin, reloaded, dataset, _trainer(), "test")
        assert math.isfinite(test[f"test_{metric}"])

    def test_refits_on_merged_rows_without_validation(
        self, plugin: ModelPlugin, dataset: Dataset, tmp_path
    ) -> None:
        """The selected config retrains for its budget with ``val=None`` (``sweep.refit``)."""
        from automl import train

        result = train.fit(plugin, plugin.config(), dataset, _trainer(), seed=0)
        assert isinstance(result.budget, dict)
        assert dataset.merged is not None
        merged = dataset.merged()
        refitted = train.refit(
            plugin, plugin.config(), merged, _trainer(), result.budget, workdir=tmp_path, seed=0
        )
        assert refitted.artifact is not None
        metric, _ = plugin.objective(dataset.spec.task)
        test = train.evaluate(plugin, refitted.model, merged, _trainer(), "test")
        assert math.isfinite(test[f"test_{metric}"])
        reloaded = train.load_model(plugin, tmp_path, plugin.config(), dataset.spec)
        before = _outputs(plugin, refitted.model, merged.test.x)
        if before is not None:
            assert len(before) == len(merged.test)
            np.testing.assert_array_equal(before, _outputs(plugin, reloaded, merged.test.x))

    def test_config_round_trips_through_hydra(self, plugin: ModelPlugin) -> None:
        from hydra import compose, initialize
        from hydra.core.config_store import ConfigStore
        from omegaconf import OmegaConf

        from automl.space import parse_space, space_to_node

        ConfigStore.instance().store(group="contract_model", name=plugin.name, node=plugin.config)
        with initialize(version_base="1.3", config_path=None):
            cfg = compose(overrides=[f"+contract_model={plugin.name}"])
        assert OmegaConf.to_object(cfg.contract_model) == plugin.config()
        # what a run directory stores must load back to the same typed config
        saved = OmegaConf.create(OmegaConf.to_yaml(cfg.contract_model))
        merged = OmegaConf.merge(OmegaConf.structured(plugin.config), saved)
        assert OmegaConf.to_object(merged) == plugin.config()
        assert parse_space(
            OmegaConf.to_container(OmegaConf.create(space_to_node(plugin.search_space)))
        ) == dict(plugin.search_space)
