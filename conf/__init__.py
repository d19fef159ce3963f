"""Hydra presets shipped with automl (installed as the ``automl.conf`` package)."""
