"""The plugin contracts: pytest-free checks and the pytest suites that run them.

Third-party plugin authors (``pip install automl[testing]``) subclass a suite and override
one fixture::

    import pytest
    from automl.testing import DataPluginContract, ModelPluginContract
    from my_package.plugin import DATA, PLUGIN

    class TestMyPlugin(ModelPluginContract):
        @pytest.fixture
        def plugin(self):
            return PLUGIN

    class TestMyData(DataPluginContract):
        @pytest.fixture
        def plugin(self):
            return DATA

The kits drive the real study path, so this package sits above ``parallel`` and everything
below it, under the command line only.

``tiny_dataset``, ``tiny_trainer`` and the ``check_*`` functions need no pytest: importing
``automl.testing`` does not import it; only the suites do, when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl.testing.checks import (
    CONTRACT_VERSION,
    backend_of,
    build_checked,
    check_declaration,
    check_predictions,
    check_prunes,
    check_samples,
    check_seeded,
    fit_checked,
    sample_configs,
)
from automl.testing.data import tiny_dataset, tiny_trainer
from automl.testing.data_checks import (
    bad_option_values,
    check_bad_options,
    check_data_declaration,
    check_data_plugin,
    check_deterministic,
    check_labels,
    check_layouts,
    check_no_overlap,
    check_raw,
    check_splits,
    load_checked,
    load_raw,
)

if TYPE_CHECKING:
    from automl.testing.contract import ModelPluginContract
    from automl.testing.data_contract import DataPluginContract

__all__ = [
    "CONTRACT_VERSION",
    "DataPluginContract",
    "ModelPluginContract",
    "backend_of",
    "bad_option_values",
    "build_checked",
    "check_bad_options",
    "check_data_declaration",
    "check_data_plugin",
    "check_declaration",
    "check_deterministic",
    "check_labels",
    "check_layouts",
    "check_no_overlap",
    "check_predictions",
    "check_prunes",
    "check_raw",
    "check_samples",
    "check_seeded",
    "check_splits",
    "fit_checked",
    "load_checked",
    "load_raw",
    "sample_configs",
    "tiny_dataset",
    "tiny_trainer",
]


def __getattr__(name: str) -> Any:
    # The pytest suites are imported on first use, so the checks work where pytest is absent.
    if name == "ModelPluginContract":
        from automl.testing.contract import ModelPluginContract

        return ModelPluginContract
    if name == "DataPluginContract":
        from automl.testing.data_contract import DataPluginContract

        return DataPluginContract
    raise AttributeError(f"module 'automl.testing' has no attribute {name!r}")
