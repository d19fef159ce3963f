"""The data plugin contract as plain functions: each raises ``AssertionError`` saying what is
wrong, for which plugin and configuration, and what was expected.

They load the data exactly as a study does (``automl.data.load_dataset``: the plugin's
``load``, then automl's split and preprocessing) and look at what models are handed::

    from automl.testing import check_data_plugin

    check_data_plugin(WAVES)  # every check below, on the default config

``automl.testing.DataPluginContract`` runs them under pytest, one test each.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.core.errors import PluginCodeError, PluginError, UserError, reason
from automl.core.plugin import LAYOUT_RANKS, NAME_PATTERN, DataPlugin, resolve
from automl.data import DataConfig, Dataset, RawData, clear_cache, load_dataset

if TYPE_CHECKING:
    from automl.core.plugin import ModelPlugin
    from automl.core.registry import Registry

__all__ = [
    "check_data_declaration",
    "load_raw",
    "load_checked",
    "check_raw",
    "check_splits",
    "check_labels",
    "check_no_overlap",
    "check_deterministic",
    "check_layouts",
    "check_bad_options",
    "bad_option_values",
    "check_data_plugin",
]


def _who(plugin: DataPlugin, cfg: object = None) -> str:
    text = f"data plugin '{getattr(plugin, 'name', plugin)}'"
    return text if cfg is None else f"{text} with config {cfg!r}"


def check_data_declaration(plugin: DataPlugin) -> None:
    """The declaration is valid (as discovery checks it) and its config carries the split
    settings (inherits ``automl.data.DataConfig``)."""
    name = getattr(plugin, "name", None)
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise AssertionError(
            f"{_who(plugin)}: the name {name!r} cannot be an entry-point name and a data= "
            f"option; expected letters, digits, '_' and '-' matching {NAME_PATTERN.pattern}"
        )
    try:
        plugin.validate()
    except PluginError as exc:
        raise AssertionError(f"{_who(plugin)}: invalid declaration: {exc}") from None
    assert isinstance(plugin.config, type) and issubclass(plugin.config, DataConfig), (
        f"{_who(plugin)}: config {plugin.config!r} does not inherit automl.data.DataConfig; "
        "expected the split settings (val_fraction, test_fraction, seed, normalize, folds)"
    )


def load_raw(plugin: DataPlugin, cfg: DataConfig) -> RawData:
    """The plugin's own ``load(cfg)``, checked to return ``automl.data.RawData``."""
    raw = resolve(plugin.load)(cfg)
    assert isinstance(raw, RawData), (
        f"{_who(plugin, cfg)}: load returned {type(raw).__module__}.{type(raw).__qualname__}; "
        "expected automl.data.RawData"
    )
    return raw


def load_checked(plugin: DataPlugin, cfg: DataConfig) -> Dataset:
    """The data as a study loads it (a fresh load, not the process cache); a failure is a
    message naming the plugin and config."""
    clear_cache()
    try:
        return load_dataset(plugin, cfg)
    except PluginCodeError as exc:  # not a refusal: the plugin's code failed
        raise AssertionError(
            f"{_who(plugin, cfg)}: loading raised {reason(exc.__cause__ or exc)}; expected a "
            "Dataset"
        ) from exc
    except UserError as exc:
        raise AssertionError(
            f"{_who(plugin, cfg)}: refused its own config: {exc}; expected the default "
            "config to load"
        ) from exc
    except Exception as exc:
        raise AssertionError(
            f"{_who(plugin, cfg)}: loading raised {reason(exc)}; expected a Dataset"
        ) from exc


def check_raw(plugin: DataPlugin, cfg: DataConfig, raw: RawData) -> None:
    """What ``load`` returns: numeric samples of one shape, one target each, a task, class
    names that cover the labels, and for rank-2 samples the layout models must know."""
    x, y = raw.x, np.asarray(raw.y)
    assert getattr(x, "ndim", 0) >= 2 or raw.encoder is not None, (
        f"{_who(plugin, cfg)}: x has shape {getattr(x, 'shape', None)}; expected (n, *sample): "
        "a first axis of samples and the per-sample shape after it (a vector is (n, 1))"
    )
    assert len(x) == len(y) and len(y) > 0, (
        f"{_who(plugin, cfg)}: x has {len(x)} samples and y {len(y)}; expected the same "
        "(non-zero) number"
    )
    assert raw.task in ("classification", "regression"), (
        f"{_who(plugin, cfg)}: task {raw.task!r}; expected classification or regression"
    )
    if raw.encoder is None:
        assert x.dtype.kind in "biuf", (
            f"{_who(plugin, cfg)}: x has dtype {x.dtype}; expected numbers (float32 or int)"
        )
    if raw.task == "classification" and raw.class_names is not None and y.dtype.kind in "iu":
        assert int(y.max()) < len(raw.class_names), (
            f"{_who(plugin, cfg)}: label {int(y.max())} has no name among {len(raw.class_names)} "
            "class_names; expected one name per class id"
        )
    if raw.x_test is not None:
        assert raw.y_test is not None and len(raw.x_test) == len(raw.y_test), (
            f"{_who(plugin, cfg)}: x_test without y_test of the same length"
        )
        if raw.encoder is None:
            assert raw.x_test.shape[1:] == x.shape[1:], (
                f"{_who(plugin, cfg)}: x_test samples have shape {raw.x_test.shape[1:]}, x's "
                f"{x.shape[1:]}; expected the same per-sample shape"
            )
    if raw.encoder is None:
        rank = x.ndim - 1
        if rank == 2:
            assert raw.layout in ("sequence", "signal"), (
                f"{_who(plugin, cfg)}: samples of shape {x.shape[1:]} (rank 2) without "
                f"RawData.layout ({raw.layout!r}); expected 'sequence' (steps x features) or "
                "'signal' (channels x length): a cnn reads rank 2 as channels x length, an "
                "rnn as steps x features, and automl transposes for the one that differs"
            )
        if raw.layout is not None:
            assert LAYOUT_RANKS.get(raw.layout) == rank, (
                f"{_who(plugin, cfg)}: layout {raw.layout!r} for samples of shape "
                f"{x.shape[1:]}; expected a layout of rank {rank}"
            )


def _splits(dataset: Dataset) -> dict[str, Any]:
    return {"train": dataset.train, "val": dataset.val, "test": dataset.test}


def check_splits(plugin: DataPlugin, cfg: DataConfig, dataset: Dataset) -> None:
    """What models are handed: every split ``(n, *spec.input_shape)`` float32 and finite,
    targets int64 class ids or float32 values, and no empty training or test split."""
    spec = dataset.spec
    for name, part in _splits(dataset).items():
        x, y = np.asarray(part.x), np.asarray(part.y)
        assert x.shape[1:] == tuple(spec.input_shape) and len(x) == len(y), (
            f"{_who(plugin, cfg)}: the {name} split has inputs {x.shape} and targets {y.shape}; "
            f"expected (n, {', '.join(map(str, spec.input_shape))}) and (n,)"
        )
        assert x.dtype == np.float32, (
            f"{_who(plugin, cfg)}: the {name} split's inputs are {x.dtype}; expected float32"
        )
        want = np.int64 if spec.task == "classification" else np.float32
        assert y.dtype == want, (
            f"{_who(plugin, cfg)}: the {name} split's targets are {y.dtype}; expected "
            f"{np.dtype(want)} for {spec.task}"
        )
        assert bool(np.isfinite(x).all()), (
            f"{_who(plugin, cfg)}: the {name} split holds NaN or infinite inputs"
        )
    assert len(dataset.train) and len(dataset.test), (
        f"{_who(plugin, cfg)}: {len(dataset.train)} training and {len(dataset.test)} test "
        "samples; expected both to be non-empty"
    )


def check_labels(plugin: DataPlugin, cfg: DataConfig, dataset: Dataset) -> None:
    """Class ids in ``[0, n_classes)``, every class in the training split, at least two
    classes; regression targets finite."""
    spec = dataset.spec
    for name, part in _splits(dataset).items():
        y = np.asarray(part.y)
        if spec.task == "classification":
            k = int(spec.n_classes or 0)
            bad = y[(y < 0) | (y >= k)]
            assert not len(bad), (
                f"{_who(plugin, cfg)}: the {name} split has label {int(bad[0])}; expected class "
                f"ids in [0, {k})"
            )
        else:
            assert bool(np.isfinite(y).all()), (
                f"{_who(plugin, cfg)}: the {name} split has non-finite regression targets"
            )
    if spec.task == "classification":
        seen = np.unique(dataset.train.y)
        assert len(seen) >= 2, f"{_who(plugin, cfg)}: the training split has one class"
        names = dataset.preprocessing.get("classes")
        if names is not None:
            assert len(names) == spec.n_classes, (
                f"{_who(plugin, cfg)}: {len(names)} class names for {spec.n_classes} classes"
            )


def _rows(x: object) -> list[bytes]:
    arr = np.asarray(x)
    if arr.dtype.kind in "biufc":
        flat = np.ascontiguousarray(arr.reshape(len(arr), -1))
        return [row.tobytes() for row in flat]
    return [repr(tuple(np.asarray(row).ravel().tolist())).encode() for row in arr]


def check_no_overlap(plugin: DataPlugin, cfg: DataConfig, dataset: Dataset, raw: RawData) -> None:
    """No sample is in two splits, beyond the rows the data itself holds twice (a test split
    the plugin gives must not repeat training rows)."""
    own = _rows(raw.x)
    repeats = len(own) - len(set(own))
    seen: dict[bytes, str] = {}
    shared: dict[tuple[str, str], int] = {}
    for name, part in _splits(dataset).items():
        for row in set(_rows(part.x)):
            if row in seen:
                key = (seen[row], name)
                shared[key] = shared.get(key, 0) + 1
            else:
                seen[row] = name
    total = sum(shared.values())
    assert total <= repeats, (
        f"{_who(plugin, cfg)}: {total} samples are in two splits "
        f"({', '.join(f'{a}/{b}: {n}' for (a, b), n in shared.items())}) but the data repeats "
        f"only {repeats} rows; expected disjoint splits (a given x_test must not repeat x)"
    )


def check_deterministic(plugin: DataPlugin, cfg: DataConfig) -> None:
    """Two loads of one config give the same arrays, split for split (data.seed decides)."""
    first, second = load_checked(plugin, cfg), load_checked(plugin, cfg)
    for name, part in _splits(first).items():
        other = _splits(second)[name]
        same = np.array_equal(part.x, other.x) and np.array_equal(part.y, other.y)
        assert same, (
            f"{_who(plugin, cfg)}: two loads with data.seed={getattr(cfg, 'seed', None)} gave "
            f"different {name} splits; expected the same data: draw every random number from "
            "a generator seeded by cfg.seed"
        )
    assert first.digest == second.digest, f"{_who(plugin, cfg)}: the data's digest changed"


def check_layouts(
    plugin: DataPlugin,
    cfg: DataConfig,
    dataset: Dataset,
    models: Registry[ModelPlugin] | None = None,
) -> dict:
    """For every installed model family that accepts the data: the view it is handed has the
    shape it reads (``automl.data.layout``). Returns ``{model: per-sample shape}``."""
    from automl.core.registry import discover_models
    from automl.data.layout import as_layout, fit_layout, spec_as

    registry = models if models is not None else discover_models()
    spec = dataset.spec
    if spec.rank == 2:
        assert spec.layout in ("sequence", "signal"), (
            f"{_who(plugin, cfg)}: rank-2 samples {spec.input_shape} of unknown layout; set "
            "RawData.layout to 'sequence' (steps x features) or 'signal' (channels x length)"
        )
    shapes = {}
    for name in registry.names():
        model = registry.get(name)
        try:
            model.check_data(spec)
        except PluginError:
            continue
        fit = fit_layout(model, spec)
        view = as_layout(dataset, fit)
        want = spec_as(spec, fit).input_shape
        assert view.train.x.shape[1:] == want and view.spec.input_shape == want, (
            f"{_who(plugin, cfg)}: model '{name}' was handed samples of shape "
            f"{view.train.x.shape[1:]}; expected {want}"
        )
        shapes[name] = tuple(want)
    return shapes


def bad_option_values(cfg: DataConfig) -> list[tuple[str, Any]]:
    """Values a data plugin's own options (not the split settings) are tried with: a
    negative and a zero number, an unknown word."""
    own = {f.name for f in dataclasses.fields(DataConfig)}
    out: list[tuple[str, Any]] = []
    for f in dataclasses.fields(cfg):
        if f.name in own:
            continue
        value = getattr(cfg, f.name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            out += [(f.name, -1), (f.name, 0)]
        elif isinstance(value, float):
            out += [(f.name, -1.0), (f.name, math.nan)]
        elif isinstance(value, str):
            out.append((f.name, "no-such-option"))
    return out


def check_bad_options(
    plugin: DataPlugin, cfg: DataConfig, tries: Iterable[tuple[str, Any]] | None = None
) -> list[str]:
    """Each option set to a value that makes no sense either loads into valid data or is
    refused with ``automl.errors.UserError`` (one line, what is wrong and what is valid):
    never another exception. Returns the refusals, one line each.

    Args:
        plugin: The data plugin.
        cfg: A config that loads.
        tries: ``(option, value)`` pairs; by default ``bad_option_values(cfg)``.
    """
    refused = []
    for field, value in bad_option_values(cfg) if tries is None else tries:
        bad = dataclasses.replace(cfg, **{field: value})
        clear_cache()
        try:
            dataset = load_dataset(plugin, bad)
        except PluginCodeError as exc:  # the study's wrapping of what the plugin's code raised
            raise AssertionError(
                f"{_who(plugin)}: data.{field}={value!r} raised {reason(exc.__cause__ or exc)}; "
                "expected automl.errors.UserError (one line: what is wrong, what is valid), or "
                "data"
            ) from exc
        except UserError as exc:
            line = str(exc)
            assert line and "\n" not in line.strip(), (
                f"{_who(plugin)}: data.{field}={value!r} was refused in {len(line.splitlines())} "
                "lines; expected one line saying what is wrong and what is valid"
            )
            refused.append(line)
            continue
        except Exception as exc:
            raise AssertionError(
                f"{_who(plugin)}: data.{field}={value!r} raised {reason(exc)}; expected "
                "automl.errors.UserError (one line: what is wrong, what is valid), or data"
            ) from exc
        check_splits(plugin, bad, dataset)
        check_labels(plugin, bad, dataset)
    return refused


def check_data_plugin(plugin: DataPlugin, cfg: DataConfig | None = None) -> None:
    """Every data check on ``cfg`` (default: the plugin's default config)."""
    cfg = cfg if cfg is not None else plugin.config()
    check_data_declaration(plugin)
    raw = load_raw(plugin, cfg)
    check_raw(plugin, cfg, raw)
    dataset = load_checked(plugin, cfg)
    check_splits(plugin, cfg, dataset)
    check_labels(plugin, cfg, dataset)
    check_no_overlap(plugin, cfg, dataset, raw)
    check_deterministic(plugin, cfg)
    check_layouts(plugin, cfg, dataset)
    check_bad_options(plugin, cfg)
