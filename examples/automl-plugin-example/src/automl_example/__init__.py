"""Example automl plugin package: the ``tcn`` model and the ``waves`` data set."""
