"""automl's built-in model plugins, registered through the ``automl.models`` entry points.

Each plugin is a light spec module (config, search space, metric, import path of the builder)
and a ``*_model`` module that imports torch and is loaded only when a model is built.
"""
