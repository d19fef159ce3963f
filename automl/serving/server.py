"""The served model behind the routes: loading and readiness, batching, limits, drift.

``ModelServer`` holds what every route of ``automl.serving.app`` reads: the predictor once it
is loaded (in a thread, so the server answers liveness while it loads), the adaptive batcher
that model calls go through, the request limits, and the drift monitor whose gauges
``/metrics`` publishes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from automl.serving.batching import AdaptiveBatcher
from automl.serving.http import read_body, read_json, read_uploads
from automl.serving.metrics import ServingMetrics, info_labels, multiprocess_dir
from automl.serving.protocol import HTTPError, image_bytes, instances_of

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

    from automl.results.drift import DriftMonitor
    from automl.results.predictor import Predictor

__all__ = ["ServeOptions", "ModelServer", "failure"]

log = logging.getLogger("automl.serving")


@dataclass(frozen=True)
class ServeOptions:
    """Limits and batching of a server (the ``serve`` command's options).

    Attributes:
        max_batch_size: Rows per model call when requests are batched together.
        max_wait_ms: Longest wait for arriving requests to join a batch.
        max_body_mb: Largest request body, in MiB (413 beyond).
        max_instances: Most samples in one request (413 beyond).
        timeout_s: Longest wait for the model's answer (504 beyond).
        drift_window: Recent input rows the drift gauges are computed on.
        inline_ms: Model calls faster than this (running average) run on the event loop;
            slower ones in a worker thread (``automl.serving.batching``).
    """

    max_batch_size: int = 64
    max_wait_ms: float = 5.0
    max_body_mb: float = 8.0
    max_instances: int = 1024
    timeout_s: float = 30.0
    drift_window: int = 1000
    inline_ms: float = 2.0

    @property
    def max_body_bytes(self) -> int:
        """``max_body_mb`` in bytes."""
        return int(self.max_body_mb * 2**20)


def failure(exc: BaseException, where: str) -> HTTPError:
    """A bug or a model failure, not the client's doing: one line out, traceback logged."""
    log.error("%s failed", where, exc_info=exc)
    text = str(exc).strip().splitlines()
    reason = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    return HTTPError(500, f"the server failed on this request ({reason[:300]}); see its log")


class ModelServer:
    """One model's state while it is served.

    Args:
        loader: Returns the ``Predictor``; called in a thread when the app starts.
        options: Limits and batching.
        name: The model name in ``/v2/models/{name}``; default the study name.

    Attributes:
        options: Limits and batching.
        metrics: The Prometheus metrics of this server.
        batcher: Batches concurrent model calls.
        predictor: The loaded ``Predictor`` (``None`` until ``ready``).
        ready: The model is loaded and one warm-up prediction has run.
        error: Why loading failed (one line), if it did.
        drift: The ``DriftMonitor`` of recent inputs, when the export has a reference.
    """

    def __init__(
        self, loader: Callable[[], Any], options: ServeOptions, name: str | None = None
    ) -> None:
        self.loader, self.options, self.name = loader, options, name
        self.metrics = ServingMetrics()
        self.predictor: Any = None
        self.ready = False
        self.error: str | None = None
        self.drift: DriftMonitor | None = None
        self.batcher = AdaptiveBatcher(
            self._run, options.max_batch_size, options.max_wait_ms, self._after, options.inline_ms
        )

    def _run(self, x: np.ndarray) -> tuple[Any, ...]:
        predictor = self.predictor
        if predictor.generative:
            raise RuntimeError("a generator has no predictions")
        return predictor.outputs(x, proba=True)

    def _after(self, x: np.ndarray, outputs: tuple[Any, ...]) -> None:
        self.metrics.observe_batch(len(x), outputs[0])
        if self.drift is not None:
            self.drift.add(x)

    # -- lifecycle
    def _load(self) -> None:
        from automl.results.drift import DriftMonitor

        predictor = self.loader()
        # Warm-up: one real prediction (or sample), so the first client pays no lazy setup.
        if predictor.generative:
            predictor.generate(1, seed=0)
        else:
            predictor.outputs(np.zeros((1, *predictor.schema.shape), dtype=np.float32))
        reference = predictor.drift
        regression = predictor.task == "regression" and not predictor.generative
        edges = tuple(reference.target_edges) if reference is not None else ()
        self.metrics.bind_model(
            info_labels(predictor.card),
            None if predictor.generative or regression else list(predictor.classes or []),
            edges if regression else None,
            tuple(reference.names) if reference is not None else (),
        )
        if reference is not None:
            self.drift = DriftMonitor(reference, self.options.drift_window)
        self.predictor = predictor
        self.ready = True
        log.info("model %s ready", predictor.card.get("name"))

    def _load_logged(self) -> None:
        try:
            self._load()
        except Exception as exc:  # reported on /v2/health/ready and in the log
            self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("could not load the model: %s", self.error)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """The app's lifespan: batching runs and the model loads while the app serves."""
        self.batcher.start()
        loading = threading.Thread(target=self._load_logged, name="automl-load", daemon=True)
        loading.start()
        refresh = None
        if multiprocess_dir() is not None:  # other workers cannot ask us: publish drift
            refresh = asyncio.get_running_loop().create_task(self._publish_drift_every(1.0))
        yield
        if refresh is not None:
            refresh.cancel()
        await self.batcher.stop()

    async def _publish_drift_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.publish_drift()

    def publish_drift(self) -> None:
        """Set the drift gauges from the recent inputs."""
        if self.drift is not None:
            self.metrics.set_drift(self.drift.psi(), self.drift.samples)

    # -- requests
    def model_name(self) -> str:
        """The served name: ``name``, else the study's once loaded."""
        if self.name:
            return self.name
        return str(self.predictor.card.get("name") or "model") if self.predictor else "model"

    def ready_predictor(self) -> Predictor:
        """The predictor, or a 503 while it loads (or after it failed to)."""
        if not self.ready:
            why = f"the model failed to load: {self.error}" if self.error else "it is loading"
            raise HTTPError(503, f"the model is not ready ({why}); poll GET /v2/health/ready")
        return self.predictor

    def check_name(self, requested: str) -> None:
        """A 404 unless ``requested`` names the served model."""
        if requested != self.model_name():
            raise HTTPError(
                404, f"no model {requested!r}; this server serves {self.model_name()!r}"
            )

    async def answer(self, x: np.ndarray) -> tuple[Any, ...]:
        """The model's outputs for prepared samples, through the batcher (504 past the timeout)."""
        try:
            return await asyncio.wait_for(self.batcher.submit(x), self.options.timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            raise HTTPError(
                504,
                f"the model did not answer within {self.options.timeout_s:g} s (serve --timeout-s)",
            ) from None
        except Exception as exc:  # the model raised: a 500 that keeps the connection usable
            raise failure(exc, "the model call") from None

    async def prepared(self, request: Request) -> tuple[Any, np.ndarray, str]:
        """Read, check and preprocess the samples of a request (413/422 on failure)."""
        predictor = self.ready_predictor()
        if predictor.generative:
            raise HTTPError(404, "this model is a generator: POST /generate")
        self.batcher.arriving += 1
        try:
            samples, where = await self._samples(request)
            return predictor, self.limit_and_prepare(predictor, samples, where), where
        finally:
            self.batcher.arriving -= 1

    async def _samples(self, request: Request) -> tuple[Any, str]:
        """The samples of a body: image files (multipart, or one raw ``image/*`` body), else
        JSON (``instances`` and MLflow's forms; ``{"b64": ...}`` samples are image bytes)."""
        limit = self.options.max_body_bytes
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "multipart/form-data":
            return await read_uploads(request, limit), "files"
        if media.startswith("image/"):
            return [await read_body(request, limit)], "body"
        samples, where = instances_of(await read_json(request, limit))
        return image_bytes(samples, where), where

    def limit_and_prepare(self, predictor: Predictor, samples: object, where: str) -> np.ndarray:
        """Refuse more than ``max_instances`` samples (413), then check and preprocess them."""
        limit = self.options.max_instances
        if isinstance(samples, list) and len(samples) > limit:
            raise HTTPError(
                413,
                f"{where} holds {len(samples)} samples; the limit is {limit} per "
                "request (serve --max-instances); split the request",
                where,
            )
        return predictor.prepare(samples, where=where, allow_paths=False)
