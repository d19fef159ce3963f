"""The data plugin contract as pytest tests every data plugin must pass.

Each test calls the pytest-free checks in ``automl.testing.data_checks``, so a failure reads as
one sentence naming the plugin, the configuration and what was expected.
"""

from __future__ import annotations

from typing import Any

import pytest

from automl.core.plugin import DataPlugin
from automl.data import DataConfig, Dataset
from automl.testing.data_checks import (
    check_bad_options,
    check_data_declaration,
    check_deterministic,
    check_labels,
    check_layouts,
    check_no_overlap,
    check_raw,
    check_splits,
    load_checked,
    load_raw,
)

__all__ = ["DataPluginContract"]


class DataPluginContract:
    """Tests every data plugin must pass. Override the ``plugin`` fixture; override
    ``config`` when the default config cannot load where the tests run (a file path), and
    ``bad_options`` to try other ``(option, value)`` pairs than the generic ones."""

    @pytest.fixture
    def plugin(self) -> DataPlugin:  # pragma: no cover - always overridden
        raise NotImplementedError("override the `plugin` fixture to return your DataPlugin")

    @pytest.fixture
    def config(self, plugin: DataPlugin) -> DataConfig:
        """The config the checks load (the plugin's defaults)."""
        return plugin.config()

    @pytest.fixture
    def bad_options(self, config: DataConfig) -> list[tuple[str, Any]] | None:
        """``(option, value)`` pairs to try; ``None``: a negative and a zero number, and an
        unknown word, for each of the plugin's own options."""
        return None

    @pytest.fixture
    def dataset(self, plugin: DataPlugin, config: DataConfig) -> Dataset:
        return load_checked(plugin, config)

    def test_declaration_is_valid(self, plugin: DataPlugin) -> None:
        check_data_declaration(plugin)

    def test_load_returns_samples_of_one_shape_and_their_layout(
        self, plugin: DataPlugin, config: DataConfig
    ) -> None:
        check_raw(plugin, config, load_raw(plugin, config))

    def test_splits_have_the_spec_s_shape_and_dtypes(
        self, plugin: DataPlugin, config: DataConfig, dataset: Dataset
    ) -> None:
        check_splits(plugin, config, dataset)

    def test_labels_are_in_range(
        self, plugin: DataPlugin, config: DataConfig, dataset: Dataset
    ) -> None:
        check_labels(plugin, config, dataset)

    def test_splits_do_not_overlap(
        self, plugin: DataPlugin, config: DataConfig, dataset: Dataset
    ) -> None:
        check_no_overlap(plugin, config, dataset, load_raw(plugin, config))

    def test_same_seed_gives_the_same_data(self, plugin: DataPlugin, config: DataConfig) -> None:
        check_deterministic(plugin, config)

    def test_each_model_family_reads_its_layout(
        self, plugin: DataPlugin, config: DataConfig, dataset: Dataset
    ) -> None:
        check_layouts(plugin, config, dataset)

    def test_a_bad_option_is_a_user_error(
        self, plugin: DataPlugin, config: DataConfig, bad_options: list[tuple[str, Any]] | None
    ) -> None:
        check_bad_options(plugin, config, bad_options)
