"""The data plugin: shapes, seeding, and that it is discovered through its entry point."""

import numpy as np
from automl_example.waves import WavesConfig, load

from automl.registry import discover_data


def test_waves_are_seeded_and_shaped():
    a, b = load(WavesConfig(seed=1)), load(WavesConfig(seed=1))
    assert a.x.shape == (1200, 1, 64) and a.x.dtype == np.float32
    np.testing.assert_array_equal(a.x, b.x)
    assert set(np.unique(a.y)) == {0, 1, 2}


def test_waves_is_registered_by_entry_point():
    info = discover_data().info("waves")
    assert info.package == "automl-plugin-example"
