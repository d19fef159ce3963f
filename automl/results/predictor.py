"""Loading an exported model (``best/``, or ``single/`` of ``sweep=none``) for prediction.

``load_best`` treats the folder as untrusted (``automl.results.exported``): its config is read as
plain
YAML, statistics and shapes are checked, only the plugin the export names is imported, model
files load without pickle. ``Predictor`` validates every input against the schema exported
with the model (``automl.results.schema``) before preprocessing it, so a bad input is one
``InputError`` line (HTTP 422), never a numpy or torch error.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.core.errors import ExportError, InputError
from automl.data.preprocess import apply_preprocessing
from automl.results.input_validation import validate_inputs
from automl.results.schema import SCHEMA_FILE, InputSchema

if TYPE_CHECKING:
    from collections.abc import Callable

    from automl.backends import Backend
    from automl.core.plugin import ModelPlugin
    from automl.core.registry import Registry
    from automl.results.drift import DriftReference

__all__ = ["Predictor", "load_best"]


@dataclass
class Predictor:
    """A loaded best model: raw inputs in, predictions out (validation and preprocessing applied).

    Attributes:
        model: The plugin's model (a LightningModule in eval mode, or an estimator).
        backend: The backend of the plugin's kind (``automl.backends``): it predicts.
        task: ``classification``, ``regression`` or ``generation`` (the data's task).
        preprocessing: The checked ``preprocessing.json``.
        config: The model config (the plugin's dataclass).
        schema: What inputs must look like.
        card: Provenance of the export (``automl.results.model_card.read_card``).
        directory: The export folder.
        drift: The training distribution for drift monitoring, if exported.
        target: The column the model predicts, for table data (``data.target``), if known.
    """

    model: Any  # the plugin's model: a LightningModule or an estimator of its own class
    backend: Backend
    task: str
    preprocessing: dict[str, Any]
    config: object
    schema: InputSchema | None = None
    card: dict[str, Any] = field(default_factory=dict)
    directory: Path | None = None
    drift: DriftReference | None = None
    target: str | None = None

    # ------------------------------------------------------------------ inputs
    def prepare(self, x: object, where: str = "inputs", allow_paths: bool = True) -> np.ndarray:
        """Validate raw inputs against the schema and preprocess them as training did.

        Args:
            x: Inputs as the data source holds them: an array of samples (the model's
                per-sample shape or the data's own, e.g. ``(8, 8)`` or ``(64,)`` for digits
                trained as ``(1, 8, 8)``); for CSV data, rows of cells (sequences in the
                training column order, or ``{column: value}`` mappings); for image folders,
                pixels or image file paths.
            where: How the inputs are named in error messages.
            allow_paths: Accept image file paths (``False`` for HTTP requests).

        Returns:
            Float32 model inputs, ``(n, *input_shape)``.

        Raises:
            InputError: The first input that does not match the schema, named.
        """
        return self.preprocess(self.check(x, where, allow_paths), where)

    def check(self, x: object, where: str = "inputs", allow_paths: bool = True) -> Any:
        """Validate raw inputs (see ``prepare``) without preprocessing them.

        Returns:
            Arrays in the canonical per-sample shape, CSV rows, or image paths: slices of it
            can be passed to ``preprocess`` batch by batch.
        """
        if self.schema is None:
            return x
        return validate_inputs(self.schema, x, where=where, allow_paths=allow_paths)

    def preprocess(self, checked: object, where: str = "inputs") -> np.ndarray:
        """Apply the stored preprocessing to inputs ``check`` returned."""
        from automl.core.errors import DataError
        from automl.data.images import ImageReadError

        try:
            return apply_preprocessing(checked, self.preprocessing)
        except ImageReadError as exc:  # sent bytes that are no image
            at = f"{where}[{exc.index}]"
            raise InputError(f"{at} {exc.problem}", at) from None
        except DataError as exc:  # e.g. an unreadable image file
            raise InputError(str(exc), where) from None

    @property
    def kind(self) -> str:
        """``lightning`` or ``estimator``."""
        return str(self.backend.kind)

    @property
    def generative(self) -> bool:
        """True for a generator (a GAN): it samples, it does not predict."""
        return bool(self.backend.generates(self.model))

    def _check_predicts(self) -> None:
        if self.generative:
            raise InputError("this model generates samples; use generate(), not predict()")

    # ------------------------------------------------------------------ prediction
    def predict(self, x: object) -> np.ndarray:
        """Class ids or regression values for raw (unpreprocessed) inputs."""
        self._check_predicts()
        return self.predict_prepared(self.prepare(x))

    def predict_proba(self, x: object) -> np.ndarray:
        """Per-class probabilities ``(n, n_classes)`` for raw inputs (classification).

        Raises:
            InputError: For a regression model or a model that gives no probabilities.
        """
        self._check_predicts()
        return self.proba_prepared(self.prepare(x))

    probabilities = predict_proba

    def _model(self, call: Callable[..., Any], *args: Any) -> Any:
        """Call the plugin's model: what its code raises is one line naming the plugin."""
        from automl.core.errors import UserError
        from automl.core.plugin_code import code_error
        from automl.core.registry import MODEL_GROUP

        try:
            return call(*args)
        except UserError:
            raise
        except Exception as exc:
            raise code_error(MODEL_GROUP, str(self.card.get("model")), "predict", exc) from exc

    def predict_prepared(self, x: np.ndarray) -> np.ndarray:
        """``predict`` for inputs that ``prepare`` already returned."""
        return np.asarray(self._model(self.backend.predict, self.model, x, self.task))

    def proba_prepared(self, x: np.ndarray) -> np.ndarray:
        """``predict_proba`` for inputs that ``prepare`` already returned."""
        if self.task != "classification":
            raise InputError(f"probabilities need a classification model; this one is {self.task}")
        _, proba = self._model(self.backend.predict_with_proba, self.model, x, self.task)
        if proba is None:
            raise InputError(f"model {type(self.model).__name__} gives no probabilities")
        return proba

    def outputs(self, x: np.ndarray, proba: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and (classification, when asked) probabilities for prepared inputs.

        The backend computes both in one pass where it can (a Lightning classifier's labels
        are the argmax of the logits whose softmax gives the probabilities).
        """
        if self.task == "classification" and proba:
            return self._model(self.backend.predict_with_proba, self.model, x, self.task)
        return self.predict_prepared(x), None

    @property
    def classes(self) -> list[str] | None:
        """Labels of the class ids, as the source named them (``None`` if unknown)."""
        return self.preprocessing.get("classes")

    def labels_of(self, ids: np.ndarray) -> list[str]:
        """Source labels of class ids."""
        names = self.classes or [str(i) for i in range(int(np.max(ids, initial=0)) + 1)]
        return [names[int(i)] for i in ids]

    def predict_labels(self, x: object) -> list[str]:
        """Like ``predict`` for classification, but returns the source's labels."""
        return self.labels_of(self.predict(x))

    # ------------------------------------------------------------------ generation
    def generate(self, n: int, label: int | None = None, seed: int | None = None) -> np.ndarray:
        """``n`` samples of a generator, in the data's own units (standardization undone).

        Args:
            n: Number of samples (1 to 4096).
            label: Class of a conditional generator (ignored otherwise); default cycles.
            seed: Noise seed; the same seed gives the same samples.

        Raises:
            InputError: Not a generator, ``n`` or ``label`` out of range.
        """
        import torch

        if not self.generative:
            raise InputError("this model predicts; only a generator (a GAN) can generate")
        if not 1 <= int(n) <= 4096:
            raise InputError(f"n={n} must be between 1 and 4096", "n")
        n_classes = int(getattr(self.model, "n_classes", 1) or 1)
        labels = None
        if label is not None:
            if not 0 <= int(label) < n_classes:
                raise InputError(f"class={label} must be in [0, {n_classes - 1}]", "class")
            labels = torch.full((int(n),), int(label), dtype=torch.long)
        with torch.no_grad():
            images = self.model.sample(int(n), labels, seed=0 if seed is None else int(seed))
        out = images.cpu().numpy().astype(np.float64)
        for step in reversed(self.preprocessing.get("steps", [])):
            if step.get("kind") == "standardize" and len(step["mean"]) == 1:
                out = out * step["std"][0] + step["mean"][0]
        return out.astype(np.float32)

    # ------------------------------------------------------------------ description
    def metadata(self) -> dict[str, Any]:
        """Schema and provenance, as JSON (what ``GET /metadata`` returns)."""
        schema = self.schema.describe() if self.schema else {}
        outputs: list[dict[str, Any]] = []
        if self.generative:
            outputs = [{"name": "samples", "datatype": "FP32", "shape": [-1, *self._shape()]}]
        elif self.task == "classification":
            k = len(self.classes or []) or None
            outputs = [
                {"name": "label", "datatype": "BYTES", "shape": [-1]},
                {"name": "probabilities", "datatype": "FP64", "shape": [-1, k or -1]},
            ]
        else:
            outputs = [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
        return {
            **self.card,
            "task": "generation" if self.generative else self.task,
            "classes": self.classes,
            **schema,
            "outputs": outputs,
        }

    def _shape(self) -> list[int]:
        return list(self.schema.shape) if self.schema else []


def _plugin_registry(model_name: str) -> Registry[ModelPlugin]:
    """The model registry with only automl's built-ins and the plugin the export names.

    No other third-party plugin code is imported, whether or not
    ``AUTOML_DISABLE_PLUGIN_AUTOLOAD`` is set: loading a model needs one plugin.
    """
    from automl.core.registry import discover_models

    return discover_models(only={model_name})


def load_best(directory: str | Path, models: Registry[ModelPlugin] | None = None) -> Predictor:
    """Load an export for prediction, checking everything read from it.

    Args:
        directory: The ``best`` folder, a copy of it, or a run folder that holds one.
        models: A model registry; by default only the built-ins and the plugin named in
            ``config.yaml`` are discovered.

    Raises:
        ExportError: The folder is not an export, or a file in it is malformed, tampered
            with or unsafe (one line naming the file and field).
        PluginError: The plugin the export names is not installed or failed to load.
    """
    from omegaconf import OmegaConf

    from automl.results.drift import DRIFT_FILE, DriftReference
    from automl.results.exported import (
        PREPROCESSING_FILE,
        check_preprocessing,
        check_spec,
        find_export,
        read_config,
        read_json,
    )
    from automl.results.model_card import read_card

    path = find_export(directory)
    saved = read_config(path)
    spec = check_spec(saved["spec"])
    preprocessing = check_preprocessing(read_json(path / PREPROCESSING_FILE), spec)
    raw_schema = read_json(path / SCHEMA_FILE, required=False)
    if raw_schema is not None:
        schema = InputSchema.from_json(raw_schema, f"{path / SCHEMA_FILE}")
        if schema.shape != spec.input_shape:
            raise ExportError(
                f"{path / SCHEMA_FILE}: shape {schema.shape} differs from the spec's "
                f"{spec.input_shape}; re-export the model"
            )
    else:  # an export older than schema.json: the schema follows from spec and steps
        schema = InputSchema.build(spec, preprocessing)
    drift = None
    raw_drift = read_json(path / DRIFT_FILE, required=False)
    if raw_drift is not None:
        try:
            n = spec.input_shape[0] if len(spec.input_shape) == 1 else None
            drift = DriftReference.from_json(raw_drift, n)
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportError(f"{path / DRIFT_FILE}: {exc}; re-export the model") from None
    model_file = saved.get("model_file")
    if model_file is not None and (
        not isinstance(model_file, str) or Path(model_file).name != model_file
    ):
        raise ExportError(f"{path}/config.yaml: model_file {model_file!r} is not a file name")
    registry = models or _plugin_registry(saved["model_name"])
    plugin = registry.get(saved["model_name"])
    try:
        node = OmegaConf.merge(OmegaConf.structured(plugin.config), saved["model"])
        cfg = OmegaConf.to_object(node)
    except Exception as exc:  # OmegaConf's validation errors: one line naming the key
        line = str(exc).strip().splitlines()[0]
        raise ExportError(
            f"{path}/config.yaml: model config does not fit {plugin.name}: {line}"
        ) from None
    backend = _cpu_backend(plugin)
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols
            warnings.simplefilter("ignore")
            model = backend.load(plugin, str(path), cfg, spec)
    except ExportError:
        raise
    except FileNotFoundError as exc:
        raise ExportError(
            f"{path} has no {Path(exc.filename or 'model file').name}; re-export the model"
        ) from None
    except Exception as exc:  # a weights file that does not fit, a truncated file
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if type(exc).__name__ == "UnpicklingError" or "weights_only" in line:
            # torch's own words advise weights_only=False, which would run the file's code.
            line = "it holds more than plain arrays, which automl never unpickles"
        raise ExportError(f"{path}: the model could not be loaded ({line[:300]})") from None
    card = read_card(path, saved, registry)
    data = saved.get("data")
    target = data.get("target") if isinstance(data, dict) else None
    return Predictor(
        model,
        backend,
        spec.task,
        preprocessing,
        cfg,
        schema,
        card,
        path,
        drift,
        target if isinstance(target, str) and target else None,
    )


def _cpu_backend(plugin: ModelPlugin) -> Backend:
    """The plugin's backend, predicting on the CPU (a server picks its own device later)."""
    from automl.backends import backend_for
    from automl.study.config import TrainerConfig

    return backend_for(plugin, TrainerConfig(accelerator="cpu"))
