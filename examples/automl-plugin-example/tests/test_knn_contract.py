"""automl's contract suite on this package's estimator plugin: one fixture override."""

import pytest
from automl_example.knn import PLUGIN

from automl.testing import ModelPluginContract


class TestKNN(ModelPluginContract):
    @pytest.fixture
    def plugin(self):
        return PLUGIN
