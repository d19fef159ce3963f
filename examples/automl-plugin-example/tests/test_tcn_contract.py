"""automl's contract suite on this package's plugin: one fixture override."""

import pytest

from automl.testing import ModelPluginContract
from automl_example.tcn import PLUGIN


class TestTCN(ModelPluginContract):
    @pytest.fixture
    def plugin(self):
        return PLUGIN
