"""The LCBench surrogate of YAHPO Gym, called directly with onnxruntime.

YAHPO Gym's ``BenchmarkSet("lcbench")`` feeds its ONNX model two inputs: the OpenML task id,
integer-encoded with ``encoding.json``, and eight numbers in a fixed order (``CONTINUOUS``:
the epoch, then the seven hyperparameters, untransformed; the network applies its own
transforms). Its outputs are ``OUTPUTS``, in that order. This module reproduces that encoding
(``yahpo_gym.benchmark_set.BenchmarkSet._config_to_xs``) so a whole learning curve is one
batched call, and needs nothing but numpy and onnxruntime (no ConfigSpace, no yahpo-gym).
``benchmarks/lcbench.py --check-yahpo`` compares it with yahpo-gym's own numbers.

The files (``model.onnx``, ``encoding.json``, ``config_space.json``) are YAHPO Gym's data
v1.0.2 under the Apache 2.0 licence (``lcbench/LICENSE-2.0.txt``; ``lcbench/SOURCE.md`` says
where they come from). The folder is named ``lcbench`` as yahpo-gym expects its data.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_PATH",
    "MAX_EPOCH",
    "PARAMS",
    "CONTINUOUS",
    "OUTPUTS",
    "Surrogate",
    "tasks",
    "space",
    "surrogate",
]

DEFAULT_PATH = Path(__file__).resolve().parent / "lcbench"
"""The copy of the surrogate shipped with this package."""
MAX_EPOCH = 52
"""LCBench trained every configuration for 52 epochs (the fidelity runs 1..52)."""
PARAMS = (
    "batch_size",
    "learning_rate",
    "momentum",
    "weight_decay",
    "num_layers",
    "max_units",
    "max_dropout",
)
"""The seven hyperparameters of LCBench's space."""
CONTINUOUS = ("epoch", *PARAMS)
"""The order of the ONNX model's continuous input (yahpo's ``cont_names``)."""
OUTPUTS = (
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)
"""The ONNX model's outputs, in order (yahpo's ``y_names``); accuracy in percent, time in
seconds of training up to that epoch."""


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def tasks(path: str | Path = DEFAULT_PATH) -> tuple[str, ...]:
    """The 34 OpenML task ids of LCBench's benchmark set, in YAHPO's order."""
    cs = _read_json(Path(path) / "config_space.json")
    task = next(h for h in cs["hyperparameters"] if h["name"] == "OpenML_task_id")
    return tuple(str(t) for t in task["choices"])


def space(path: str | Path = DEFAULT_PATH) -> dict[str, dict[str, Any]]:
    """Each hyperparameter's ``type`` (``int``/``float``), ``lower``, ``upper``, ``log`` and
    ``default``, from ``config_space.json``."""
    cs = _read_json(Path(path) / "config_space.json")
    out = {}
    for h in cs["hyperparameters"]:
        if h["name"] in PARAMS:
            kind = "int" if h["type"] == "uniform_int" else "float"
            out[h["name"]] = {
                "type": kind,
                "lower": h["lower"],
                "upper": h["upper"],
                "log": bool(h["log"]),
                "default": h["default"],
            }
    return {name: out[name] for name in PARAMS}


class Surrogate:
    """One ONNX session of the surrogate, on one thread by default.

    Args:
        path: The folder that holds ``model.onnx`` and ``encoding.json`` (default: the copy
            shipped with this package).
        threads: onnxruntime's intra-op threads (1: a query is a few small matrix products,
            and benchmarks run several processes side by side).
    """

    def __init__(self, path: str | Path = DEFAULT_PATH, threads: int = 1) -> None:
        import onnxruntime as rt

        folder = Path(path)
        model = folder / "model.onnx"
        if not model.is_file():
            raise FileNotFoundError(
                f"no LCBench surrogate at {folder} (model.onnx missing); give the folder that "
                "holds YAHPO Gym's lcbench model.onnx and encoding.json"
            )
        options = rt.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = rt.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        encoding = _read_json(folder / "encoding.json")["OpenML_task_id"]
        self.encoding: dict[str, int] = {str(k): int(v) for k, v in encoding.items()}
        self.tasks = tasks(folder)
        inputs = self.session.get_inputs()
        self._cat, self._cont = inputs[0].name, inputs[1].name
        self._out = self.session.get_outputs()[0].name

    def query(
        self, task: str, configs: Sequence[Mapping[str, float]], epochs: Sequence[int]
    ) -> np.ndarray:
        """Outputs for row i = ``configs[i]`` trained ``epochs[i]`` epochs, in one call.

        Returns:
            ``(len(configs), len(OUTPUTS))`` float32, columns in ``OUTPUTS`` order.

        Raises:
            KeyError: ``task`` is not one of the surrogate's tasks.
        """
        if str(task) not in self.tasks:
            raise KeyError(f"LCBench task {task!r} is not one of {', '.join(self.tasks)}")
        code = self.encoding[str(task)]
        cont = np.array(
            [
                [float(e), *(float(c[p]) for p in PARAMS)]
                for c, e in zip(configs, epochs, strict=True)
            ],
            dtype=np.float32,
        )
        cat = np.full((len(cont), 1), code, dtype=np.int32)
        out: np.ndarray = self.session.run([self._out], {self._cat: cat, self._cont: cont})[0]
        return out

    def curve(self, task: str, config: Mapping[str, float], epochs: int = MAX_EPOCH) -> np.ndarray:
        """The learning curve of ``config``: epochs 1..``epochs`` in one batched call.

        Returns:
            ``(epochs, len(OUTPUTS))``; row e is epoch e + 1.
        """
        return self.query(task, [config] * epochs, range(1, epochs + 1))

    def curves(self, task: str, params: np.ndarray, epochs: int = MAX_EPOCH) -> np.ndarray:
        """Whole learning curves of many configurations in one call.

        Args:
            task: The OpenML task id.
            params: ``(n, len(PARAMS))``, columns in ``PARAMS`` order.
            epochs: Epochs 1..``epochs`` of each.

        Returns:
            ``(n, epochs, len(OUTPUTS))``.
        """
        if str(task) not in self.tasks:
            raise KeyError(f"LCBench task {task!r} is not one of {', '.join(self.tasks)}")
        params = np.asarray(params, dtype=np.float32)
        n = len(params)
        cont = np.empty((n, epochs, len(CONTINUOUS)), dtype=np.float32)
        cont[:, :, 0] = np.arange(1, epochs + 1, dtype=np.float32)
        cont[:, :, 1:] = params[:, None, :]
        cat = np.full((n * epochs, 1), self.encoding[str(task)], dtype=np.int32)
        flat = cont.reshape(n * epochs, len(CONTINUOUS))
        out: np.ndarray = self.session.run([self._out], {self._cat: cat, self._cont: flat})[0]
        return out.reshape(n, epochs, len(OUTPUTS))


@functools.lru_cache(maxsize=4)
def surrogate(path: str = "", threads: int = 1) -> Surrogate:
    """The process's session for ``path`` ("" = the shipped copy), loaded once."""
    return Surrogate(Path(path) if path else DEFAULT_PATH, threads)
