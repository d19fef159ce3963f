"""The model plugin contract (1.1) as pytest tests every plugin must pass.

Each test calls the pytest-free checks in ``automl.testing.checks``, so a failure reads as one
sentence naming the plugin, the configuration and what was expected.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from automl.core.plugin import ModelPlugin
from automl.data import Dataset
from automl.testing.checks import (
    backend_of,
    build_checked,
    check_declaration,
    check_predictions,
    check_prunes,
    check_seeded,
    fit_checked,
    predictions,
    sample_configs,
    who,
)
from automl.testing.data import tiny_dataset, tiny_trainer

__all__ = ["ModelPluginContract"]


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
        check_declaration(plugin)

    def test_accepts_its_default_data(self, plugin: ModelPlugin, dataset: Dataset) -> None:
        plugin.check_data(dataset.spec)
        metric, direction = plugin.objective(dataset.spec.task)
        assert metric and direction in ("maximize", "minimize"), (
            f"{who(plugin)}: objective ({metric!r}, {direction!r}) is not (name, maximize|minimize)"
        )

    def test_builds_from_defaults(self, plugin: ModelPlugin, dataset: Dataset) -> None:
        build_checked(plugin, plugin.config(), dataset.spec)

    def test_space_samples_build(self, plugin: ModelPlugin, dataset: Dataset) -> None:
        for cfg in sample_configs(plugin, self.n_samples):
            build_checked(plugin, cfg, dataset.spec)

    def test_trains_reports_and_reloads(
        self, plugin: ModelPlugin, dataset: Dataset, tmp_path: Path
    ) -> None:
        from automl.study import train

        cfg = plugin.config()
        reports: list[tuple[int, float]] = []

        def report(step: int, value: float) -> bool:
            reports.append((step, value))
            return False

        result = fit_checked(plugin, cfg, dataset, report=report, workdir=tmp_path, seed=0)
        metric, _ = plugin.objective(dataset.spec.task)
        key = f"val_{metric}"
        assert result.metrics.get(key) == pytest.approx(result.value), (
            f"{who(plugin, cfg)}: FitResult.value {result.value} is not metrics[{key!r}] "
            f"({result.metrics.get(key)})"
        )
        assert reports, (
            f"{who(plugin, cfg)}: report was never called; expected report(step, {key}) after "
            "each epoch or stage, so bad trials can be pruned"
        )
        bad = [(s, v) for s, v in reports if not math.isfinite(v)]
        assert not bad, f"{who(plugin, cfg)}: reported non-finite values {bad[:3]}"
        assert result.artifact is not None, f"{who(plugin, cfg)}: fit saved no model file"
        if metric in ("acc", "f1", "precision", "recall"):
            assert 0.0 <= result.value <= 1.0, f"{who(plugin, cfg)}: {key}={result.value}"
        if metric in ("rmse", "mae", "fd"):
            assert result.value >= 0.0, f"{who(plugin, cfg)}: {key}={result.value} < 0"

        # What best/, serve and predict do: load through the backend, predict through it.
        before = check_predictions(plugin, cfg, result.model, dataset.test.x, dataset.spec)
        reloaded = train.load_model(plugin, tmp_path, cfg, dataset.spec)
        after = check_predictions(plugin, cfg, reloaded, dataset.test.x, dataset.spec)
        if before is not None and after is not None:
            np.testing.assert_array_equal(
                before, after, err_msg=f"{who(plugin, cfg)}: predictions changed on reload"
            )
        changed = backend_of(plugin).reload_differs(result.model, reloaded)
        assert changed is None, f"{who(plugin, cfg)}: {changed}"
        test = train.evaluate(plugin, reloaded, dataset, tiny_trainer(), "test")
        assert math.isfinite(test[f"test_{metric}"]), (
            f"{who(plugin, cfg)}: test_{metric} of the reloaded model is {test[f'test_{metric}']}"
        )

    def test_stops_when_report_says_so(self, plugin: ModelPlugin, dataset: Dataset) -> None:
        check_prunes(plugin, plugin.config(), dataset)

    def test_same_seed_gives_the_same_metric(self, plugin: ModelPlugin, dataset: Dataset) -> None:
        check_seeded(plugin, plugin.config(), dataset)

    def test_refits_on_merged_rows_without_validation(
        self, plugin: ModelPlugin, dataset: Dataset, tmp_path: Path
    ) -> None:
        """The selected config retrains for its budget with ``val=None`` (``sweep.refit``)."""
        from automl.study import train

        cfg = plugin.config()
        result = fit_checked(plugin, cfg, dataset, seed=0)
        assert isinstance(result.budget, dict), f"{who(plugin, cfg)}: budget {result.budget!r}"
        assert dataset.merged is not None
        merged = dataset.merged()
        refitted = train.refit(
            plugin, cfg, merged, tiny_trainer(), result.budget, workdir=tmp_path, seed=0
        )
        assert refitted.artifact is not None, f"{who(plugin, cfg)}: the refit saved no model"
        metric, _ = plugin.objective(dataset.spec.task)
        test = train.evaluate(plugin, refitted.model, merged, tiny_trainer(), "test")
        assert math.isfinite(test[f"test_{metric}"]), (
            f"{who(plugin, cfg)}: test_{metric} after the refit is {test[f'test_{metric}']}"
        )
        reloaded = train.load_model(plugin, tmp_path, cfg, dataset.spec)
        before = check_predictions(plugin, cfg, refitted.model, merged.test.x, merged.spec)
        if before is not None:
            np.testing.assert_array_equal(
                before,
                predictions(plugin, reloaded, merged.test.x, merged.spec.task),
                err_msg=f"{who(plugin, cfg)}: the refitted model predicts differently reloaded",
            )

    def test_config_round_trips_through_hydra(self, plugin: ModelPlugin) -> None:
        from hydra import compose, initialize
        from hydra.core.config_store import ConfigStore
        from omegaconf import OmegaConf

        from automl.core.space import parse_space, space_to_node

        ConfigStore.instance().store(group="contract_model", name=plugin.name, node=plugin.config)
        with initialize(version_base="1.3", config_path=None):
            cfg = compose(overrides=[f"+contract_model={plugin.name}"])
        assert OmegaConf.to_object(cfg.contract_model) == plugin.config()
        # what a run directory stores must load back to the same typed config
        saved = OmegaConf.create(OmegaConf.to_yaml(cfg.contract_model))
        merged: Any = OmegaConf.merge(OmegaConf.structured(plugin.config), saved)
        assert OmegaConf.to_object(merged) == plugin.config()
        node: Any = OmegaConf.to_container(OmegaConf.create(space_to_node(plugin.search_space)))
        assert parse_space(node) == dict(plugin.search_space)
