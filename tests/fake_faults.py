"""Plugins whose own code misbehaves the ways issue 20 found (never installed; the tests make
them installed-looking with ``helpers.install_entry_points``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fake_plugins import TinyConfig

from automl.core.errors import DataError
from automl.core.plugin import BaseEstimator, DataPlugin, ModelPlugin
from automl.core.space import Choice
from automl.data import DataConfig, RawData


class Swallows(BaseEstimator):
    """Nearest class centre, grown over 4 stages; catches whatever ``report`` raises."""

    def __init__(self, cfg, spec) -> None:
        self.centers: np.ndarray | None = None
        self.stages_run = 0

    def fit(self, train, val, report) -> None:
        x, y = np.asarray(train[0]).reshape(len(train[0]), -1), np.asarray(train[1])
        for stage in range(4):
            rows = len(x) * (stage + 1) // 4
            self.centers = np.stack([x[:rows][y[:rows] == c].mean(0) for c in np.unique(y)])
            self.stages_run = stage + 1
            if report is not None and val is not None:
                try:  # the bug: the pruning signal is an exception, and this eats it
                    report(stage, float((self.predict(val[0]) == np.asarray(val[1])).mean()))
                except Exception:
                    pass

    def predict(self, x) -> np.ndarray:
        x = np.asarray(x).reshape(len(x), -1)
        assert self.centers is not None
        return ((x[:, None, :] - self.centers[None]) ** 2).sum(-1).argmin(axis=1)

    def save(self, directory: str) -> str:
        target = Path(directory) / "centers.npy"
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, self.centers)
        return str(target)


def build_swallows(cfg, spec) -> Swallows:
    return Swallows(cfg, spec)


def load_swallows(directory, cfg, spec) -> Swallows:
    model = Swallows(cfg, spec)
    model.centers = np.load(Path(directory) / "centers.npy")
    return model


SWALLOWS = ModelPlugin(
    name="swallows",
    config=TinyConfig,
    search_space={"hidden": Choice([4, 8, 16, 32])},
    build="fake_faults:build_swallows",
    load="fake_faults:load_swallows",
    kind="estimator",
    tasks=("classification",),
    default_data="wine",
)


@dataclass
class BrokenConfig(DataConfig):
    """``fail``: how ``load`` fails (``value``: a bug; ``option``: a bad setting, said so)."""

    fail: str = "value"


def load_broken(cfg: BrokenConfig) -> RawData:
    if cfg.fail == "option":
        raise DataError("data.fail=option: this data set has no such option; use data.fail=none")
    if cfg.fail == "value":
        raise ValueError("could not convert string to float: 'n/a'")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 4)).astype(np.float32)
    return RawData(x=x, y=(x[:, 0] > 0).astype(np.int64), task="classification")


BROKEN = DataPlugin(name="broken", config=BrokenConfig, load="fake_faults:load_broken")


class Picky(Swallows):
    """Trains and predicts like ``Swallows``, but its ``predict`` breaks on batches of 7 rows
    (a bug only some inputs reach, after training and the test went fine)."""

    def predict(self, x) -> np.ndarray:
        if len(x) == 7:
            raise ValueError("operands could not be broadcast together with shapes (7,) (8,)")
        return super().predict(x)


def build_picky(cfg, spec) -> Picky:
    return Picky(cfg, spec)


def load_picky(directory, cfg, spec) -> Picky:
    model = Picky(cfg, spec)
    model.centers = np.load(Path(directory) / "centers.npy")
    return model


PICKY = ModelPlugin(
    name="picky",
    config=TinyConfig,
    search_space={"hidden": Choice([4, 8])},
    build="fake_faults:build_picky",
    load="fake_faults:load_picky",
    kind="estimator",
    tasks=("classification",),
    default_data="wine",
)
