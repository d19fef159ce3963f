"""What ``best/`` carries for serving: the input schema, the training distribution, provenance.

``write_serving_files`` runs at the end of the export (``automl.results.finalize.export_best``) and
writes three small JSON files beside the model:

- ``schema.json``: what inputs must look like (``automl.results.schema.InputSchema``);
- ``drift.json``: training deciles, mean and std per drift feature (``automl.results.drift``);
- ``model_card.json``: provenance: study, trial, parameters, model and data, versions;
- ``data_summary.json``, for data whose plugin describes it (CSV tables): rows, columns
  with their types, roles and missing cells, what was left out (``automl.data.summary``).

``read_card`` assembles the provenance the server shows (``GET /metadata``) from those files,
``config.yaml`` (an optional ``fingerprint`` of the data) and ``metrics.json``. Only numpy is
imported here, never torch or fastapi.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.core.atomic import write_text

if TYPE_CHECKING:
    from automl.core.jsonvalue import JSONLike
    from automl.core.plugin import ModelPlugin
    from automl.core.registry import Registry
    from automl.data import Dataset

__all__ = ["CARD_FILE", "write_serving_files", "read_card", "write_json_atomic"]

CARD_FILE = "model_card.json"


def write_json_atomic(path: Path, data: JSONLike) -> None:
    """Write JSON to a temporary file beside ``path``, then rename it over ``path``."""
    write_text(path, json.dumps(data, indent=2, allow_nan=False))


def _versions(plugin_module: str | None, plugin_package: str | None = None) -> dict[str, str]:
    """automl's version and the version of the distribution that ships the plugin's code.

    ``plugin_package`` (``"name version"``, what plugin discovery read from the entry point's
    distribution) is used when known; otherwise the distribution is looked up from the
    module's name, which reads every installed distribution's file list (about a second).
    """
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    import automl

    out = {"automl": automl.__version__}
    name, _, known = (plugin_package or "").rpartition(" ")
    if name and not name.startswith("<") and known not in ("", "?"):
        out["plugin_package"], out["plugin"] = name, known
        return out
    if plugin_module:
        top = plugin_module.split(".")[0]
        for dist in packages_distributions().get(top, []):
            try:
                out["plugin_package"], out["plugin"] = dist, version(dist)
            except PackageNotFoundError:
                continue
            break
    return out


def write_serving_files(
    best_dir: str | Path, dataset: Dataset, provenance: Mapping[str, Any]
) -> None:
    """Write ``schema.json``, ``drift.json`` and ``model_card.json`` into an export folder.

    Args:
        best_dir: The export folder (``best/``).
        dataset: The ``Dataset`` the exported model was trained on (its training split is
            the reference distribution; its preprocessing decides the input form).
        provenance: ``study``, ``trial``, ``params``, ``model``, ``data`` and, optionally,
            ``plugin_module`` (import path of the plugin's code, for its version) and
            ``plugin_package`` (``"name version"`` of its distribution, when discovery knows).
    """
    from automl.results.drift import DRIFT_FILE, DriftReference
    from automl.results.schema import SCHEMA_FILE, InputSchema

    folder = Path(best_dir)
    x = np.asarray(dataset.train.x)
    spec = dataset.spec
    if x.dtype.kind == "f" and x.ndim == 2:
        nan: list[bool] | bool = np.isnan(x).any(axis=0).tolist()
    else:
        nan = bool(x.dtype.kind == "f" and np.isnan(x).any())
    schema = InputSchema.build(spec, dataset.preprocessing, nan)
    write_json_atomic(folder / SCHEMA_FILE, schema.to_json())
    reference = DriftReference.fit(
        x,
        spec.feature_names,
        np.asarray(dataset.train.y),
        regression=spec.task == "regression",
    )
    write_json_atomic(folder / DRIFT_FILE, reference.to_json())
    card = {
        "format": 1,
        "study": provenance.get("study"),
        "trial": provenance.get("trial"),
        "params": {k: _plain(v) for k, v in dict(provenance.get("params") or {}).items()},
        "model": provenance.get("model"),
        "data": provenance.get("data"),
        "versions": _versions(provenance.get("plugin_module"), provenance.get("plugin_package")),
        "training_rows": int(len(dataset.train)),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json_atomic(folder / CARD_FILE, card)
    summary = getattr(dataset, "summary", None)
    if summary is not None:  # a table's columns, missing cells, what was left out
        from automl.data.summary import SUMMARY_FILE

        write_json_atomic(folder / SUMMARY_FILE, summary)


def _plain(value: object) -> Any:
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def _scalars(value: object) -> dict[str, Any]:
    """Only ``name: number|str|bool|None`` pairs of an untrusted mapping."""
    if not isinstance(value, Mapping):
        return {}
    return {
        str(k): v
        for k, v in list(value.items())[:1000]
        if v is None or isinstance(v, (int, float, str, bool))
    }


def read_card(
    folder: Path, config: Mapping[str, Any], registry: Registry[ModelPlugin] | None = None
) -> dict[str, Any]:
    """Provenance of an export, from its files (absent ones leave fields ``None``).

    Args:
        folder: The export folder.
        config: Its ``config.yaml`` as read by ``automl.results.exported.read_config``.
        registry: The model registry (the installed plugin's version, if the card lacks it).
    """
    from automl.results.exported import METRICS_FILE, read_json

    card = read_json(folder / CARD_FILE, required=False)
    card = card if isinstance(card, dict) else {}
    metrics = read_json(folder / METRICS_FILE, required=False)
    metrics = metrics if isinstance(metrics, dict) else {}
    versions = _scalars(card.get("versions"))
    if "automl" not in versions:
        import automl

        versions["automl_loading"] = automl.__version__
    if registry is not None and config.get("model_name") in getattr(registry, "plugins", {}):
        info = registry.plugins[config["model_name"]]
        versions["plugin_installed"] = f"{info.package} {info.version}"
    study = card.get("study")
    if not isinstance(study, str):
        study = folder.resolve().parent.name  # runs/<study>/best
    fingerprint = config.get("fingerprint")
    exported_at = card.get("exported_at")
    return {
        "name": study,
        "study": study,
        "trial": config.get("trial") if isinstance(config.get("trial"), int) else None,
        "model": str(config.get("model_name")),
        "data": str(config.get("data_name")),
        "metric": config.get("metric") if isinstance(config.get("metric"), str) else None,
        "direction": config.get("direction") if isinstance(config.get("direction"), str) else None,
        "params": _scalars(card.get("params")),
        "validation": _scalars(metrics.get("validation")),
        "test": _scalars(metrics.get("test")),
        "fingerprint": fingerprint if isinstance(fingerprint, (str, Mapping)) else None,
        "versions": versions,
        "exported_at": exported_at if isinstance(exported_at, str) else None,
    }
