"""The data plugin: automl's data contract suite (shapes, dtypes, seeding, disjoint splits,
labels, the layout each model family reads, bad options), and its entry point."""

import numpy as np
import pytest
from automl_example.waves import WAVES, WavesConfig, load

from automl.registry import discover_data
from automl.testing import DataPluginContract


class TestWaves(DataPluginContract):
    @pytest.fixture
    def plugin(self):
        return WAVES

    @pytest.fixture
    def config(self):
        return WavesConfig(n_samples=300)  # the checks load it a dozen times


def test_waves_are_one_channel_signals_of_three_classes():
    raw = load(WavesConfig(seed=1))
    assert raw.x.shape == (1200, 1, 64) and raw.layout == "signal"
    assert set(np.unique(raw.y)) == {0, 1, 2}


def test_waves_is_registered_by_entry_point():
    info = discover_data().info("waves")
    assert info.package == "automl-plugin-example"
