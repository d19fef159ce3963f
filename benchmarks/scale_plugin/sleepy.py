"""``model=sleepy``: a fake trial for the scale-out load test (benchmarks/scale_load.py).

Each trial sleeps ``step_ms`` milliseconds ``steps`` times and reports a value after each
sleep, so a study of them measures the storage and the scheduling, not training. Its space is
discrete (20 x 20 x 20 points) so that racing workers would draw the same configuration if the
admission let them; the value is a smooth function of the parameters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl.core.plugin import ModelPlugin
from automl.core.space import Int


@dataclass
class SleepyConfig:
    a: int = 10
    b: int = 10
    c: int = 10
    steps: int = 5
    step_ms: float = 5.0


class Sleepy:
    def __init__(self, cfg, spec) -> None:
        self.cfg = cfg

    def fit(self, train, val, report) -> None:
        cfg = self.cfg
        score = 1.0 - ((cfg.a - 7) ** 2 + (cfg.b - 13) ** 2 + (cfg.c - 3) ** 2) / 1200.0
        for step in range(cfg.steps):
            time.sleep(cfg.step_ms / 1000.0)
            if report is not None:
                report(step, score * (step + 1) / cfg.steps)

    def predict(self, x) -> np.ndarray:
        return np.zeros(len(x), dtype=np.int64)

    def save(self, path: str) -> str:
        target = Path(path) / "sleepy.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("sleepy\n")
        return str(target)


def build(cfg, spec) -> Sleepy:
    return Sleepy(cfg, spec)


def load(directory: str, cfg, spec) -> Sleepy:
    return Sleepy(cfg, spec)


PLUGIN = ModelPlugin(
    name="sleepy",
    config=SleepyConfig,
    search_space={"a": Int(0, 19), "b": Int(0, 19), "c": Int(0, 19)},
    build="sleepy:build",
    load="sleepy:load",
    kind="estimator",
    tasks=("classification",),
    default_data="wine",
)
