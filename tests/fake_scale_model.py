"""Builders of ``fake_scale``: a nearest-centroid estimator with a way to hang or run out of
GPU memory. ``AUTOML_TEST_MARKER`` names the file whose creation marks "the first trial"."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from automl.core.metrics import classification_metrics


def _first() -> bool:
    """True for exactly one caller across processes (creates the marker file)."""
    try:
        os.close(os.open(os.environ["AUTOML_TEST_MARKER"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class Centroids:
    def __init__(self, cfg, spec, hook=None) -> None:
        self.cfg, self.hook, self.centroids = cfg, hook, None

    def fit(self, train, val, report) -> None:
        if self.hook is not None:
            self.hook(self.cfg)
        x, y = np.asarray(train[0]), np.asarray(train[1])
        self.centroids = np.stack([x[y == c].mean(axis=0) for c in np.unique(y)])
        if report is not None and val is not None:
            report(0, classification_metrics(np.asarray(val[1]), self.predict(val[0]))["acc"])

    def predict(self, x) -> np.ndarray:
        d = ((np.asarray(x)[:, None, :] - self.centroids[None]) ** 2).sum(-1)
        return d.argmin(axis=1)

    def save(self, path: str) -> str:
        target = Path(path) / "centroids.npy"
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, self.centroids)
        return str(target)


def _hang(cfg) -> None:
    if "AUTOML_TEST_MARKER" in os.environ and _first():
        # Like a C call that never returns: the in-process alarm stays pending.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(600)


def _oom(cfg) -> None:
    import torch

    if cfg.oom_always or (cfg.oom_once and _first()):
        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 20.00 GiB (GPU 0; 16.00 GiB total capacity)"
        )


def build_stuck(cfg, spec) -> Centroids:
    return Centroids(cfg, spec, _hang)


def build_oom(cfg, spec) -> Centroids:
    return Centroids(cfg, spec, _oom)


def _gate(cfg) -> None:
    gate = Path(os.environ["AUTOML_TEST_GATE"])
    deadline = time.monotonic() + 120
    while not gate.exists():  # another process opens it: a file is the event
        assert time.monotonic() < deadline, f"{gate} never appeared"
        time.sleep(0.05)


def build_gated(cfg, spec) -> Centroids:
    return Centroids(cfg, spec, _gate)


def load(directory: str, cfg, spec) -> Centroids:
    model = Centroids(cfg, spec)
    model.centroids = np.load(Path(directory) / "centroids.npy")
    return model
