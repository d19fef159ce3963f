"""Compatibility: ``automl.serve.load_best`` predates ``automl.predictor``; the HTTP server is
``automl.serving``."""

from automl.predictor import Predictor, load_best

__all__ = ["Predictor", "load_best"]
