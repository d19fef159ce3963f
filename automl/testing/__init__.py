"""The model plugin contract: pytest-free checks and the pytest suite that runs them.

Third-party plugin authors (``pip install automl[testing]``) subclass the suite and override
one fixture::

    import pytest
    from automl.testing import ModelPluginContract
    from my_package.plugin import PLUGIN

    class TestMyPlugin(ModelPluginContract):
        @pytest.fixture
        def plugin(self):
            return PLUGIN

``tiny_dataset``, ``tiny_trainer`` and the ``check_*`` functions need no pytest: importing
``automl.testing`` does not import it; only ``ModelPluginContract`` does, when first used.
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

if TYPE_CHECKING:
    from automl.testing.contract import ModelPluginContract

__all__ = [
    "CONTRACT_VERSION",
    "ModelPluginContract",
    "backend_of",
    "build_checked",
    "check_declaration",
    "check_predictions",
    "check_prunes",
    "check_samples",
    "check_seeded",
    "fit_checked",
    "sample_configs",
    "tiny_dataset",
    "tiny_trainer",
]


def __getattr__(name: str) -> Any:
    # The pytest suite is imported on first use, so the checks work where pytest is absent.
    if name == "ModelPluginContract":
        from automl.testing.contract import ModelPluginContract

        return ModelPluginContract
    raise AttributeError(f"module 'automl.testing' has no attribute {name!r}")
