"""The data plugin contract kit: every built-in data plugin passes it (the file formats on
files made here), and it catches each hole it claims to in plugins that break one rule each,
with a message naming the plugin and what was expected."""

from __future__ import annotations

import csv

import fake_data_plugins
import numpy as np
import pytest

# pytester's in-process runs drop modules first imported inside them; C extensions cannot be
# imported twice, so everything the suite loads is imported here first.
import automl.testing.data_contract  # noqa: F401
from automl.core.registry import discover_data
from automl.testing import DataPluginContract

pytest_plugins = ["pytester"]

REGISTRY = discover_data()
BUILTIN = ["digits", "digits_seq", "breast_cancer", "wine", "diabetes", "npz", "csv", "images"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 1 x 32 signal (npz), a table with a text column and gaps (csv), an image folder."""
    from PIL import Image

    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 32)).astype(np.float32)
    np.savez(root / "sig.npz", x=x, y=(x[:, 0] > 0).astype(int) + (x[:, 1] > 0))
    with open(root / "t.csv", "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["a", "b", "city", "label"])
        for i in range(120):
            b = "" if i % 17 == 0 else f"{rng.normal():.3f}"
            out.writerow([f"{rng.normal():.3f}", b, ("Lyon", "Paris", "Nice")[i % 3], i % 2])
    for label in ("cat", "dog"):
        (root / "img" / label).mkdir(parents=True)
        for i in range(12):
            pixels = (rng.random((10, 10, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "img" / label / f"{i}.png")
    return root


class TestBuiltinData(DataPluginContract):
    @pytest.fixture(params=BUILTIN)
    def plugin(self, request):
        return REGISTRY.get(request.param)

    @pytest.fixture
    def config(self, plugin, files):
        options = {
            "npz": {"path": str(files / "sig.npz"), "layout": "signal"},
            "csv": {"path": str(files / "t.csv"), "target": "label"},
            "images": {"path": str(files / "img"), "size": 8},
        }
        return plugin.config(**options.get(plugin.name, {}))


def test_every_builtin_data_plugin_is_checked():
    builtin = [n for n in REGISTRY.names() if REGISTRY.info(n).package == "automl"]
    assert sorted(builtin) == sorted(BUILTIN)


SUITE = """
import pytest
import fake_data_plugins
from automl.testing import DataPluginContract

class TestData(DataPluginContract):
    @pytest.fixture
    def plugin(self):
        return fake_data_plugins.{attr}
"""


def run_suite(pytester, attr: str, *args: str):
    pytester.makepyfile(test_suite=SUITE.format(attr=attr))
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", *args)


@pytest.mark.parametrize(
    ("attr", "test", "expected"),
    [
        ("LEAKY_DATA", "test_splits_do_not_overlap", "30 samples are in two splits"),
        ("UNSEEDED_DATA", "test_same_seed_gives_the_same_data", "gave different train splits"),
        (
            "NO_LAYOUT_DATA",
            "test_load_returns_samples_of_one_shape_and_their_layout",
            "samples of shape (2, 16) (rank 2) without RawData.layout",
        ),
        (
            "FEW_NAMES_DATA",
            "test_load_returns_samples_of_one_shape_and_their_layout",
            "label 2 has no name among 2 class_names",
        ),
        (
            "CRASHING_DATA",
            "test_a_bad_option_is_a_user_error",
            "data.n_samples=-1 raised ValueError",
        ),
    ],
)
def test_the_data_kit_catches_each_broken_plugin(pytester, attr, test, expected):
    plugin = getattr(fake_data_plugins, attr)
    result = run_suite(pytester, attr, "-k", test)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"FAILED test_suite.py::TestData::{test}" in out
    assert expected in out and f"data plugin '{plugin.name}'" in out


def test_a_data_plugin_that_keeps_every_rule_passes_the_whole_kit(pytester):
    run_suite(pytester, "GOOD_DATA").assert_outcomes(passed=8)
