"""The model plugin contract as plain functions: each raises ``AssertionError`` saying what is
wrong, for which plugin and configuration, and what was expected.

``automl.testing.ModelPluginContract`` runs them under pytest; they need no pytest themselves,
so a plugin's own test runner (or a notebook) can call them too::

    from automl.testing import check_declaration, check_prunes, tiny_dataset

    check_declaration(PLUGIN)
    check_prunes(PLUGIN, PLUGIN.config(), tiny_dataset(PLUGIN))
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.core.errors import PluginError, TrialPruned, reason
from automl.core.plugin import NAME_PATTERN, TASKS, ModelPlugin, resolve
from automl.core.records import SWALLOWED_PRUNE
from automl.data import Dataset
from automl.testing.data import tiny_trainer

if TYPE_CHECKING:
    from automl.backends.base import Backend, FitResult, TrainerSettings
    from automl.core.plugin import DataSpec

__all__ = [
    "CONTRACT_VERSION",
    "who",
    "check_declaration",
    "build_checked",
    "sample_configs",
    "fit_checked",
    "backend_of",
    "predictions",
    "check_predictions",
    "check_samples",
    "check_prunes",
    "check_seeded",
]

CONTRACT_VERSION = "1.1"
"""1.1 added: builder return types checked with isinstance, pruning honoured, same seed gives
the same metric, prediction shapes checked, messages that name plugin, config and expectation."""


def who(plugin: ModelPlugin, cfg: object = None) -> str:
    """``plugin 'x' with config XConfig(a=1, ...)``: the start of every message."""
    text = f"plugin '{getattr(plugin, 'name', plugin)}'"
    return text if cfg is None else f"{text} with config {cfg!r}"


def check_declaration(plugin: ModelPlugin) -> None:
    """The declaration is valid: name, kind, tasks, metric, config and space (as discovery
    checks it), and the name is one Hydra and entry points accept."""
    name = getattr(plugin, "name", None)
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise AssertionError(
            f"{who(plugin)}: the name {name!r} cannot be an entry-point name and a model= "
            f"option; expected letters, digits, '_' and '-' matching {NAME_PATTERN.pattern}"
        )
    try:
        plugin.validate()
    except PluginError as exc:
        raise AssertionError(f"{who(plugin)}: invalid declaration: {exc}") from None
    unknown = sorted(set(plugin.tasks) - set(TASKS))
    assert not unknown, f"{who(plugin)}: tasks {unknown} are not among {TASKS}"


def build_checked(plugin: ModelPlugin, cfg: object, spec: DataSpec) -> Any:
    """``plugin.build(cfg, spec)``, checked to return what the plugin's kind promises.

    A ``lightning`` builder must return a ``pytorch_lightning.LightningModule``; an
    ``estimator`` builder an object with ``fit``, ``predict`` and ``save`` methods.
    """
    model = resolve(plugin.build)(cfg, spec)
    got = "None" if model is None else f"a {type(model).__module__}.{type(model).__qualname__}"
    why = backend_of(plugin).check_built(model)
    if why is not None:
        raise AssertionError(f"{who(plugin, cfg)}: build returned {got}{why}")
    return model


def sample_configs(plugin: ModelPlugin, n: int, seed: int = 0) -> list[Any]:
    """``n`` configs sampled from the plugin's space (random sampler), as trials get them."""
    from omegaconf import OmegaConf

    from automl.study.families import trial_config
    from automl.tuning.sampling import random_params

    base = OmegaConf.structured(plugin.config)
    configs = [
        OmegaConf.to_object(trial_config(base, params))
        for params in random_params(plugin.search_space, n, seed)
    ]
    for cfg in configs:
        assert isinstance(cfg, plugin.config), (
            f"{who(plugin)}: a sampled config is a {type(cfg).__name__}, expected "
            f"{plugin.config.__name__}"
        )
    return configs


def fit_checked(
    plugin: ModelPlugin,
    cfg: object,
    dataset: Dataset,
    trainer_cfg: TrainerSettings | None = None,
    **kwargs: Any,
) -> FitResult:
    """``automl.study.train.fit``, with a failure turned into a message naming the plugin, the
    config and what was expected; ``TrialPruned`` passes through. Returns the ``FitResult``."""
    from automl.study import train

    trainer_cfg = trainer_cfg if trainer_cfg is not None else tiny_trainer()
    metric, _ = plugin.objective(dataset.spec.task)
    key = f"val_{metric}"
    try:
        result = train.fit(plugin, cfg, dataset, trainer_cfg, **kwargs)
    except TrialPruned:
        raise
    except FloatingPointError as exc:
        raise AssertionError(
            f"{who(plugin, cfg)}: the validation metric became NaN or infinite ({exc}); "
            f"expected a finite {key}: a diverging loss, or a metric computed on no samples"
        ) from exc
    except KeyError as exc:
        raise AssertionError(
            f"{who(plugin, cfg)}: training did not produce {key} ({exc}); expected the model "
            f"to log {key} every validation epoch (estimators: predictions automl can score)"
        ) from exc
    except Exception as exc:
        raise AssertionError(
            f"{who(plugin, cfg)}: automl.study.train.fit raised {reason(exc)}; expected a FitResult"
        ) from exc
    assert math.isfinite(result.value), (
        f"{who(plugin, cfg)}: {key} is {result.value}; expected a finite number"
    )
    return result


def backend_of(plugin: ModelPlugin, trainer_cfg: TrainerSettings | None = None) -> Backend:
    """The backend a study, ``best/``, ``serve`` and ``predict`` use for ``plugin``
    (``automl.backends.backend_for``), on the CPU unless ``trainer_cfg`` says otherwise."""
    from automl.backends import backend_for

    return backend_for(plugin, trainer_cfg if trainer_cfg is not None else tiny_trainer())


def predictions(plugin: ModelPlugin, model: object, x: np.ndarray, task: str) -> np.ndarray | None:
    """What the model predicts for ``x``, asked exactly as ``serve`` and ``predict`` ask it:
    through its backend (``backend.predict``); ``None`` for a generator (a model with
    ``sample``), which is never asked to predict."""
    backend = backend_of(plugin)
    if backend.generates(model):
        return None
    return np.asarray(backend.predict(model, x, task))


def check_predictions(
    plugin: ModelPlugin, cfg: object, model: object, x: np.ndarray, spec: DataSpec
) -> np.ndarray | None:
    """What ``serve``/``predict`` get from the backend: one prediction per sample (a class id
    in ``[0, n_classes)`` or a finite value) and, where the model gives class probabilities,
    rows of ``n_classes`` that sum to 1 and agree with the predictions. A generator's samples
    instead (``check_samples``). Returns the predictions (``None`` for a generator)."""
    backend = backend_of(plugin)
    if backend.generates(model):
        check_samples(plugin, cfg, model, spec)
        return None
    out = np.asarray(backend.predict(model, x, spec.task))
    n = len(x)
    what = "class id" if spec.task == "classification" else "value"
    assert out.shape == (n,), (
        f"{who(plugin, cfg)}: predicting {n} samples of shape {tuple(x.shape[1:])} returned an "
        f"array of shape {out.shape}; expected ({n},): one {what} per sample"
    )
    if spec.task == "classification":
        whole = np.issubdtype(out.dtype, np.integer) or bool(
            np.all(np.isfinite(out)) and np.all(out == np.round(out))
        )
        assert whole and out.min(initial=0) >= 0 and out.max(initial=0) < (spec.n_classes or 1), (
            f"{who(plugin, cfg)}: predictions {out[:5].tolist()}... are not class ids; expected "
            f"integers in [0, {spec.n_classes}) (argmax of the logits, not probabilities)"
        )
        _check_probabilities(plugin, cfg, backend, model, x, spec, out)
    else:
        bad = np.flatnonzero(~np.isfinite(out.astype(np.float64)))
        assert not len(bad), (
            f"{who(plugin, cfg)}: prediction {int(bad[0])} of {n} is {out[bad[0]]}; expected "
            "finite values"
        )
    return out


def _check_probabilities(
    plugin: ModelPlugin,
    cfg: object,
    backend: Backend,
    model: object,
    x: np.ndarray,
    spec: DataSpec,
    pred: np.ndarray,
) -> None:
    """``predict_with_proba`` (what ``serve`` answers with): probabilities that are
    probabilities, and labels that are the predictions."""
    labels, proba = backend.predict_with_proba(model, x, spec.task)
    np.testing.assert_array_equal(
        np.asarray(labels),
        pred,
        err_msg=(
            f"{who(plugin, cfg)}: two predictions of the same inputs differ (predict_with_proba's "
            "labels and predict's); expected the model to be deterministic in eval mode"
        ),
    )
    if proba is None:
        return  # a model without probabilities: serve answers labels only
    proba = np.asarray(proba, dtype=np.float64)
    n, k = len(x), spec.n_classes or 1
    assert proba.shape == (n, k), (
        f"{who(plugin, cfg)}: class probabilities of {n} samples have shape {proba.shape}; "
        f"expected ({n}, {k}): one row per sample, one column per class"
    )
    sums = proba.sum(axis=1)
    assert np.all(np.isfinite(proba)) and np.all(proba >= 0) and np.allclose(sums, 1, atol=1e-5), (
        f"{who(plugin, cfg)}: class probabilities {proba[0].round(4).tolist()}... are not "
        "finite, non-negative rows that sum to 1; expected predict_proba's probabilities"
    )
    top = np.sort(proba, axis=1)
    clear = top[:, -1] - (top[:, -2] if k > 1 else 0) > 1e-9  # ties may go either way
    differ = np.flatnonzero(clear & (proba.argmax(axis=1) != pred))
    assert not len(differ), (
        f"{who(plugin, cfg)}: sample {int(differ[0])} is predicted as class "
        f"{int(pred[differ[0]])} but its most probable class is {int(proba[differ[0]].argmax())}; "
        "expected predict to return the most probable class"
    )


def check_samples(
    plugin: ModelPlugin, cfg: object, model: Any, spec: DataSpec, n: int = 4
) -> np.ndarray:
    """A generator's ``sample(n, labels, seed)``, as ``serve``'s ``/generate`` calls it: ``n``
    finite samples of the data's per-sample shape, the same for the same seed."""
    import torch

    with torch.no_grad():
        first = np.asarray(model.sample(n, None, seed=3).cpu().numpy())
        again = np.asarray(model.sample(n, None, seed=3).cpu().numpy())
    shape = (n, *spec.input_shape)
    assert first.shape == shape, (
        f"{who(plugin, cfg)}: sample({n}, None, seed=3) returned shape {first.shape}; expected "
        f"{shape}: {n} samples of the data's per-sample shape"
    )
    assert np.all(np.isfinite(first)), f"{who(plugin, cfg)}: generated samples are not finite"
    np.testing.assert_array_equal(
        first, again, err_msg=f"{who(plugin, cfg)}: the same seed generated other samples"
    )
    return first


def check_prunes(plugin: ModelPlugin, cfg: object, dataset: Dataset, seed: int = 0) -> None:
    """A ``report`` that returns ``True`` stops training: ``automl.study.train.fit`` raises
    ``automl.core.errors.TrialPruned`` and nothing is reported after that first ``True``."""
    calls: list[tuple[int, float]] = []

    def report(step: int, value: float) -> bool:
        calls.append((step, value))
        return True

    try:
        fit_checked(plugin, cfg, dataset, tiny_trainer(epochs=3), report=report, seed=seed)
    except TrialPruned as exc:
        # A study prunes such a model anyway, once fit returns, and notes it; a plugin that
        # trains on after the signal wastes every pruned trial's time.
        if exc.note == SWALLOWED_PRUNE:
            raise AssertionError(
                f"{who(plugin, cfg)}: fit caught the automl.errors.TrialPruned that report "
                f"raised at step {exc.epoch} and trained on; expected it to propagate (no "
                "except Exception around report)"
            ) from None
    else:
        raise AssertionError(
            f"{who(plugin, cfg)}: training finished although report returned True "
            f"{len(calls)} time(s) (steps {[s for s, _ in calls][:5]}); expected it to stop at "
            "the first True and automl.study.train.fit to raise automl.errors.TrialPruned"
        )
    assert calls, f"{who(plugin, cfg)}: pruned without ever calling report"
    assert len(calls) == 1, (
        f"{who(plugin, cfg)}: report returned True at step {calls[0][0]} but was called "
        f"{len(calls) - 1} more time(s) (steps {[s for s, _ in calls[1:6]]}); expected training "
        "to stop at the first True"
    )


def check_seeded(plugin: ModelPlugin, cfg: object, dataset: Dataset, seed: int = 0) -> None:
    """Two fits with the same seed reach the same validation metric."""
    first = fit_checked(plugin, cfg, dataset, tiny_trainer(), seed=seed).value
    second = fit_checked(plugin, cfg, dataset, tiny_trainer(), seed=seed).value
    assert math.isclose(first, second, rel_tol=1e-6, abs_tol=1e-9), (
        f"{who(plugin, cfg)}: two fits with seed={seed} reached {first!r} and {second!r}; "
        "expected the same value: draw every random number from the seeded generators (torch, "
        "numpy) or pass the seed on, never from an unseeded source"
    )
