"""The reusable contract suite run over every registered model plugin (new ones included)."""

from __future__ import annotations

import pytest

from automl.core.registry import discover_models
from automl.testing import ModelPluginContract

REGISTRY = discover_models()


class TestBuiltinPlugins(ModelPluginContract):
    @pytest.fixture(params=REGISTRY.names())
    def plugin(self, request):
        return REGISTRY.get(request.param)


def test_every_installed_plugin_loads():
    assert not REGISTRY.failures, REGISTRY.failures
