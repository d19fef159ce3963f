"""Example automl plugin package: the ``tcn`` and ``knn`` models and the ``waves`` data set."""
