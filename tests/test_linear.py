"""The built-in linear plugin: sklearn's fits, predictions from plain arrays, no-pickle files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from automl_plugins.linear import PLUGIN, LinearConfig
from automl_plugins.linear_model import build, load
from helpers import run_cli
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LogisticRegression, Ridge

from automl.core.errors import TrialPruned, UserError
from automl.core.plugin import DataSpec


def spec(task, n_features, n_classes=None):
    return DataSpec("t", task, (n_features,), n_classes=n_classes)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
def test_classifier_predicts_as_sklearn_and_reloads_exactly(tmp_path, n_classes, l1_ratio):
    x, y = make_classification(300, 8, n_informative=5, n_classes=n_classes, random_state=0)
    cfg = LinearConfig(alpha=0.5, l1_ratio=l1_ratio)
    model = build(cfg, spec("classification", 8, n_classes))
    reports = []
    model.fit((x[:200], y[:200]), (x[200:], y[200:]), lambda s, v: reports.append((s, v)))
    assert len(reports) == 1 and reports[0][0] == 0
    assert reports[0][1] == pytest.approx(np.mean(model.predict(x[200:]) == y[200:]))
    if l1_ratio == 0:  # the same fit as scikit-learn's own L2 logistic regression
        ref = LogisticRegression(C=2.0, max_iter=1000).fit(x[:200], y[:200])
        np.testing.assert_array_equal(model.predict(x), ref.predict(x))
        np.testing.assert_allclose(model.predict_proba(x), ref.predict_proba(x), atol=1e-6)
    proba = model.predict_proba(x)
    assert proba.shape == (300, n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(np.argmax(proba, axis=1), model.predict(x))
    model.save(str(tmp_path))
    assert {p.name for p in tmp_path.iterdir()} == {"model.npz"}
    again = load(str(tmp_path), cfg, spec("classification", 8, n_classes))
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    np.testing.assert_array_equal(again.predict_proba(x), proba)


def test_regression_elastic_net_meets_ridge_at_l1_ratio_zero(tmp_path):
    x, y = make_regression(200, 6, noise=5.0, random_state=1)
    ridge = build(LinearConfig(alpha=30.0), spec("regression", 6))
    ridge.fit((x, y), None, None)
    ref = Ridge(alpha=30.0).fit(x, y)
    np.testing.assert_allclose(ridge.predict(x), ref.predict(x), rtol=1e-9)
    # alpha keeps its meaning across l1_ratio = 0: a sliver of L1 barely moves the fit ...
    net = build(
        LinearConfig(alpha=30.0, l1_ratio=1e-6, tol=1e-10, max_iter=100_000), spec("regression", 6)
    )
    net.fit((x, y), None, None)
    np.testing.assert_allclose(net.coef, ridge.coef, rtol=1e-3)
    # ... while pure L1 with a strong penalty zeroes coefficients out.
    lasso = build(LinearConfig(alpha=3000.0, l1_ratio=1.0), spec("regression", 6))
    lasso.fit((x, y), None, None)
    assert np.sum(lasso.coef == 0) >= 2
    lasso.save(str(tmp_path))
    again = load(str(tmp_path), LinearConfig(), spec("regression", 6))
    np.testing.assert_array_equal(again.predict(x), lasso.predict(x))


def test_report_can_prune_the_single_step():
    x, y = make_classification(100, 4, random_state=0)
    model = build(LinearConfig(), spec("classification", 4, 2))
    with pytest.raises(TrialPruned):
        model.fit((x, y), (x, y), lambda step, value: True)
    assert model.fitted_budget() == {}


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_loader_refuses_pickles_and_wrong_shapes(tmp_path):
    s = spec("classification", 4, 3)
    file = tmp_path / "model.npz"
    payload = np.array([Payload(tmp_path / "pwned")], dtype=object)
    np.savez(file, coef=payload, intercept=np.zeros(3), classes=np.arange(3))
    with pytest.raises(UserError, match="cannot be read as plain arrays"):
        load(str(tmp_path), LinearConfig(), s)
    assert not (tmp_path / "pwned").exists()
    cases = [
        (
            {"coef": np.zeros((3, 5)), "intercept": np.zeros(3), "classes": np.arange(3)},
            "do not fit 3 outputs x 4 features",
        ),
        ({"coef": np.zeros((3, 4)), "intercept": np.zeros(3)}, "expected ['classes', 'coef'"),
        (
            {"coef": np.zeros((3, 4)), "intercept": np.zeros(3), "classes": np.array([0, 1, 7])},
            "are not distinct ids of 3 classes",
        ),
        (
            {"coef": np.full((3, 4), np.nan), "intercept": np.zeros(3), "classes": np.arange(3)},
            "coef must hold finite floats",
        ),
    ]
    for arrays, message in cases:
        np.savez(file, **arrays)
        with pytest.raises(UserError, match=message.replace("[", r"\[")):
            load(str(tmp_path), LinearConfig(), s)


def test_bad_config_is_refused_by_the_config_itself():
    # LinearConfig.__post_init__: automl builds it before the study (automl.study.values).
    with pytest.raises(ValueError, match="alpha=0.0 must be > 0"):
        LinearConfig(alpha=0.0)
    with pytest.raises(ValueError, match=r"l1_ratio=1.5 must be in \[0, 1\]"):
        LinearConfig(l1_ratio=1.5)
    with pytest.raises(ValueError, match="class_weight='heavy' is not one of null, balanced"):
        LinearConfig(class_weight="heavy")
    assert set(PLUGIN.search_space) == {"alpha", "l1_ratio"}


@pytest.mark.heavy
def test_linear_study_through_the_cli(tmp_path):
    done = run_cli(
        [
            "model=linear",
            "data=breast_cancer",
            "sweep.n_trials=4",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    best = tmp_path / "run" / "best"
    assert (best / "model.npz").exists()
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["test"]["test_acc"] > 0.9
    from sklearn.datasets import load_breast_cancer

    from automl.results.predictor import load_best

    x, y = load_breast_cancer(return_X_y=True)  # raw features: the stored scaling applies
    assert (load_best(best).predict(x) == y).mean() > 0.9
