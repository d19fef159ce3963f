"""Data plugins with one contract hole each, fed to the data contract kit (never installed).

``GOOD_DATA`` breaks no rule, so the checks that catch the others are shown not to fail a
correct plugin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl.core.errors import UserError
from automl.core.plugin import DataPlugin
from automl.data import DataConfig, RawData


@dataclass
class BlobsConfig(DataConfig):
    n_samples: int = 200
    length: int = 16


def _blobs(cfg: BlobsConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if cfg.n_samples < 30 or cfg.length < 2:
        raise UserError(
            f"data.n_samples={cfg.n_samples} data.length={cfg.length}: need n_samples >= 30 "
            "and length >= 2"
        )
    y = np.arange(cfg.n_samples) % 3
    x = rng.normal(size=(cfg.n_samples, 2, cfg.length)) + y[:, None, None]
    return x.astype(np.float32), y


def load_good(cfg: BlobsConfig) -> RawData:
    x, y = _blobs(cfg, np.random.default_rng(cfg.seed))
    return RawData(x=x, y=y, task="classification", layout="signal")


def load_leaky(cfg: BlobsConfig) -> RawData:
    """Its "test split" repeats the first training rows."""
    raw = load_good(cfg)
    raw.x_test, raw.y_test = raw.x[:30].copy(), raw.y[:30].copy()
    return raw


def load_unseeded(cfg: BlobsConfig) -> RawData:
    x, y = _blobs(cfg, np.random.default_rng())
    return RawData(x=x, y=y, task="classification", layout="signal")


def load_no_layout(cfg: BlobsConfig) -> RawData:
    raw = load_good(cfg)
    raw.layout = None
    return raw


def load_few_names(cfg: BlobsConfig) -> RawData:
    raw = load_good(cfg)
    raw.class_names = ("a", "b")  # three classes
    return raw


def load_crashes(cfg: BlobsConfig) -> RawData:
    """No check of its options: a negative size is numpy's ValueError."""
    rng = np.random.default_rng(cfg.seed)
    y = np.arange(cfg.n_samples) % 3
    x = rng.normal(size=(cfg.n_samples, 2, cfg.length)) + y[:, None, None]
    return RawData(x=x.astype(np.float32), y=y, task="classification", layout="signal")


def _plugin(name: str, load: str) -> DataPlugin:
    return DataPlugin(name=name, config=BlobsConfig, load=f"fake_data_plugins:{load}")


GOOD_DATA = _plugin("good_blobs", "load_good")
LEAKY_DATA = _plugin("leaky_blobs", "load_leaky")
UNSEEDED_DATA = _plugin("unseeded_blobs", "load_unseeded")
NO_LAYOUT_DATA = _plugin("no_layout_blobs", "load_no_layout")
FEW_NAMES_DATA = _plugin("few_names_blobs", "load_few_names")
CRASHING_DATA = _plugin("crashing_blobs", "load_crashes")
