"""automl's contract suite on this package's plugin: one fixture override."""

import pytest
from automl_example.tcn import PLUGIN

from automl.testing import ModelPluginContract


class TestTCN(ModelPluginContract):
    @pytest.fixture
    def plugin(self):
        return PLUGIN
