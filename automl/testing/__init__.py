"""Reusable pytest contract suite for model plugins (``automl.testing.ModelPluginContract``).

Third-party plugin authors subclass it and override one fixture::

    import pytest
    from automl.testing import ModelPluginContract
    from my_package.plugin import PLUGIN

    class TestMyPlugin(ModelPluginContract):
        @pytest.fixture
        def plugin(self):
            return PLUGIN
"""

from automl.testing.contract import ModelPluginContract, tiny_dataset

__all__ = ["ModelPluginContract", "tiny_dataset"]
