"""The k-nearest-neighbours estimator: numpy only, saved without pickle."""

from pathlib import Path

import numpy as np

from automl import BaseEstimator

MODEL_FILE = "knn.npz"


class KNN(BaseEstimator):
    """Votes of the ``k`` nearest training rows (Euclidean), optionally by inverse distance."""

    def __init__(self, cfg, spec):
        self.cfg, self.n_classes = cfg, spec.n_classes
        self.x = self.y = None

    def fit(self, train, val, report):
        # Nothing to train: remember the rows. One report (step 0) lets the pruner compare
        # this trial with others; it raises TrialPruned itself when the study says stop.
        self.x = np.asarray(train[0], np.float32).reshape(len(train[0]), -1)
        self.y = np.asarray(train[1], np.int64)
        if report is not None:
            report(0, float((self.predict(val[0]) == np.asarray(val[1])).mean()))

    def predict_proba(self, x):
        x = np.asarray(x, np.float32).reshape(len(x), -1)
        k = min(self.cfg.k, len(self.x))
        out = np.zeros((len(x), self.n_classes))
        for start in range(0, len(x), 512):  # bounded memory: 512 x n_train distances at a time
            block = x[start : start + 512]
            d = ((block[:, None, :] - self.x[None]) ** 2).sum(-1)
            near = np.argsort(d, axis=1)[:, :k]
            w = 1.0 / (np.sqrt(np.take_along_axis(d, near, 1)) + 1e-9)
            w = w if self.cfg.weights == "distance" else np.ones_like(w)
            for row, (idx, wt) in enumerate(zip(near, w, strict=True)):
                np.add.at(out[start + row], self.y[idx], wt)
        return out / out.sum(axis=1, keepdims=True)

    def predict(self, x):
        return self.predict_proba(x).argmax(axis=1)

    def save(self, directory):
        target = Path(directory) / MODEL_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, x=self.x, y=self.y)
        return str(target)


def build(cfg, spec):
    return KNN(cfg, spec)


def load(directory, cfg, spec):
    model = KNN(cfg, spec)
    with np.load(Path(directory) / MODEL_FILE, allow_pickle=False) as saved:
        model.x, model.y = saved["x"], saved["y"]
    return model
