"""Compatibility: ``automl.serve.load_best`` predates ``automl.results.predictor``; the HTTP server
is
``automl.serving``."""

from automl.results.predictor import Predictor, load_best

__all__ = ["Predictor", "load_best"]
