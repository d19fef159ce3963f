"""The HTTP app of a served model (FastAPI): Open Inference Protocol v2, /predict, /metrics.

Endpoints (docs/serving.md has curl examples):

- ``GET /v2/health/live``, ``GET /v2/health/ready`` (ready once the model is loaded and one
  warm-up prediction has run), ``GET /v2``, ``GET /v2/models/{name}``,
  ``GET /v2/models/{name}/ready``, ``POST /v2/models/{name}/infer``;
- ``POST /predict`` (``{"instances": [...]}``) and ``POST /invocations`` (MLflow's alias, also
  taking ``inputs``, ``dataframe_split`` and ``dataframe_records``); ``GET /ping``;
- ``POST /generate`` for generators (GANs);
- ``GET /metadata`` (schema and provenance), ``GET /metrics`` (Prometheus).

Every bad input is a 422 with ``{"error": message, "field": where}``; a body over the limit
413; a request beyond ``max_instances`` 413; a model slower than the timeout 504; requests
before the model is ready 503.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response

from automl.errors import InputError
from automl.serving.batching import AdaptiveBatcher
from automl.serving.metrics import ServingMetrics, info_labels, multiprocess_dir
from automl.serving.protocol import (
    HTTPError,
    instances_of,
    png_grid,
    predictions_json,
    v2_outputs,
    v2_samples,
    v2_tensor,
)

__all__ = ["ServeOptions", "create_app"]

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


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


def _error(status: int, message: str, field: str = "") -> Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return _json(body, status)


_V2_MODEL = re.compile(r"^/v2/models/[^/]+(/ready|/infer)?$")
_STATIC = frozenset(
    {
        "/predict",
        "/invocations",
        "/generate",
        "/metadata",
        "/metrics",
        "/ping",
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
    }
)


def endpoint_of(path: str) -> str:
    """The ``endpoint`` label of a path (a template, so model names add no series)."""
    if path in _STATIC:
        return path
    match = _V2_MODEL.match(path)
    if match:
        return "/v2/models/{name}" + (match.group(1) or "")
    return "other"


class _Observe:
    """Pure ASGI middleware: request metrics, and a 413 for a declared oversized body."""

    def __init__(self, app: Any, metrics: ServingMetrics, max_body: int) -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = endpoint_of(scope["path"])
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        start = time.perf_counter()
        gauge = self.metrics.in_progress_of(endpoint)
        gauge.inc()
        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                response = _error(
                    413,
                    f"request body is {int(length)} bytes; the limit is {self.max_body} "
                    "(serve --max-body-mb); send fewer instances per request",
                )
                await response(scope, receive, send_status)
            else:
                await self.app(scope, receive, send_status)
        finally:
            gauge.dec()
            self.metrics.observe_request(endpoint, status[0], time.perf_counter() - start)


async def _read_json(request: Request, limit: int) -> Any:
    """The JSON body, refusing more than ``limit`` bytes even without a Content-Length."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(
                413,
                f"request body is over the limit of {limit} bytes (serve --max-body-mb); "
                "send fewer instances per request",
            )
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPError(422, f"the body is not valid JSON ({exc})", "body") from None


@dataclass
class _State:
    predictor: Any = None
    ready: bool = False
    error: str | None = None
    drift: Any = None


def create_app(
    loader: Callable[[], Any],
    options: ServeOptions | None = None,
    name: str | None = None,
) -> FastAPI:
    """The app of one model.

    Args:
        loader: Returns the ``Predictor``; called in a thread when the app starts, so the
            server answers ``/v2/health/live`` (and 503 on ready) while the model loads.
        options: Limits and batching.
        name: The model name in ``/v2/models/{name}``; default the study name.
    """
    opts = options or ServeOptions()
    metrics = ServingMetrics()
    state = _State()

    def run(x: np.ndarray) -> tuple[Any, ...]:
        predictor = state.predictor
        if predictor.generative:
            raise RuntimeError("a generator has no predictions")
        return predictor.outputs(x, proba=True)

    def after(x: np.ndarray, outputs: tuple[Any, ...]) -> None:
        metrics.observe_batch(len(x), outputs[0])
        if state.drift is not None:
            state.drift.add(x)

    batcher = AdaptiveBatcher(run, opts.max_batch_size, opts.max_wait_ms, after, opts.inline_ms)

    def load() -> None:
        from automl.drift import DriftMonitor

        predictor = loader()
        # Warm-up: one real prediction (or sample), so the first client pays no lazy setup.
        if predictor.generative:
            predictor.generate(1, seed=0)
        else:
            predictor.outputs(np.zeros((1, *predictor.schema.shape), dtype=np.float32))
        reference = predictor.drift
        regression = predictor.task == "regression" and not predictor.generative
        edges = tuple(reference.target_edges) if reference is not None else ()
        metrics.bind_model(
            info_labels(predictor.card),
            None if predictor.generative or regression else list(predictor.classes or []),
            edges if regression else None,
            tuple(reference.names) if reference is not None else (),
        )
        if reference is not None:
            state.drift = DriftMonitor(reference, opts.drift_window)
        state.predictor = predictor
        state.ready = True
        log.info("model %s ready", predictor.card.get("name"))

    def load_logged() -> None:
        try:
            load()
        except Exception as exc:  # reported on /v2/health/ready and in the log
            state.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("could not load the model: %s", state.error)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        loading = threading.Thread(target=load_logged, name="automl-load", daemon=True)
        loading.start()
        refresh = None
        if multiprocess_dir() is not None:  # other workers cannot ask us: publish drift
            refresh = asyncio.get_running_loop().create_task(_publish_drift_every(1.0))
        yield
        if refresh is not None:
            refresh.cancel()
        await batcher.stop()

    async def _publish_drift_every(seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            publish_drift()

    def publish_drift() -> None:
        if state.drift is not None:
            metrics.set_drift(state.drift.psi(), state.drift.samples)

    app = FastAPI(
        title="automl model server",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(_Observe, metrics=metrics, max_body=opts.max_body_bytes)

    def route(path: str, method: str = "GET"):
        """A plain Starlette route (``endpoint(request)``): FastAPI's per-call dependency
        solving would be a tenth of a fast model's request time."""

        def add(endpoint):
            app.router.add_route(path, endpoint, methods=[method])
            return endpoint

        return add

    @app.exception_handler(HTTPError)
    async def http_error(request: Request, exc: HTTPError) -> Response:
        return _error(exc.status, exc.message, exc.field)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        return _error(422, str(exc), exc.field)

    def failure(exc: BaseException, where: str) -> HTTPError:
        """A bug or a model failure, not the client's doing: one line out, traceback logged."""
        log.error("%s failed", where, exc_info=exc)
        text = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
        return HTTPError(500, f"the server failed on this request ({reason[:300]}); see its log")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # Anything not caught below (Starlette then closes the connection as well).
        error = failure(exc, f"{request.method} {request.url.path}")
        return _error(error.status, error.message)

    def model_name() -> str:
        if name:
            return name
        return str(state.predictor.card.get("name") or "model") if state.predictor else "model"

    def ready_predictor() -> Any:
        if not state.ready:
            why = f"the model failed to load: {state.error}" if state.error else "it is loading"
            raise HTTPError(503, f"the model is not ready ({why}); poll GET /v2/health/ready")
        return state.predictor

    def check_name(requested: str) -> None:
        if requested != model_name():
            raise HTTPError(404, f"no model {requested!r}; this server serves {model_name()!r}")

    async def answer(x: np.ndarray) -> tuple[Any, ...]:
        try:
            return await asyncio.wait_for(batcher.submit(x), opts.timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            raise HTTPError(
                504, f"the model did not answer within {opts.timeout_s:g} s (serve --timeout-s)"
            ) from None
        except Exception as exc:  # the model raised: a 500 that keeps the connection usable
            raise failure(exc, "the model call") from None

    async def prepared(request: Request) -> tuple[Any, np.ndarray, str]:
        """Read, check and preprocess the samples of a request (413/422 on failure)."""
        predictor = ready_predictor()
        if predictor.generative:
            raise HTTPError(404, "this model is a generator: POST /generate")
        batcher.arriving += 1
        try:
            body = await _read_json(request, opts.max_body_bytes)
            samples, where = instances_of(body)
            return predictor, _limit_and_prepare(predictor, samples, where), where
        finally:
            batcher.arriving -= 1

    def _limit_and_prepare(predictor: Any, samples: Any, where: str) -> np.ndarray:
        if isinstance(samples, list) and len(samples) > opts.max_instances:
            raise HTTPError(
                413,
                f"{where} holds {len(samples)} samples; the limit is {opts.max_instances} per "
                "request (serve --max-instances); split the request",
                where,
            )
        return predictor.prepare(samples, where=where, allow_paths=False)

    @route("/v2/health/live")
    async def live(request: Request) -> Response:
        return _json({"live": True})

    @route("/v2/health/ready")
    async def ready(request: Request) -> Response:
        if state.ready:
            return _json({"ready": True})
        return _json({"ready": False, "error": state.error}, 503)

    @route("/ping")
    async def ping(request: Request) -> Response:
        return await ready(request)

    @route("/v2")
    async def server_metadata(request: Request) -> Response:
        import automl

        return _json({"name": "automl", "version": automl.__version__, "extensions": []})

    @route("/v2/models/{requested}")
    async def model_metadata(request: Request) -> Response:
        requested = request.path_params["requested"]
        predictor = ready_predictor()
        check_name(requested)
        meta = predictor.metadata()
        return _json(
            {
                "name": model_name(),
                "versions": [str(meta.get("trial"))] if meta.get("trial") is not None else [],
                "platform": f"automl-{meta.get('model')}",
                "inputs": meta.get("inputs", []),
                "outputs": meta.get("outputs", []),
                "parameters": {k: v for k, v in meta.items() if k not in ("inputs", "outputs")},
            }
        )

    @route("/v2/models/{requested}/ready")
    async def model_ready(request: Request) -> Response:
        check_name(request.path_params["requested"])
        return await ready(request)

    @route("/metadata")
    async def metadata(request: Request) -> Response:
        predictor = ready_predictor()
        return _json({"name": model_name(), **predictor.metadata()})

    @route("/metrics")
    async def metrics_text(request: Request) -> Response:
        publish_drift()
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @route("/predict", "POST")
    async def predict(request: Request) -> Response:
        predictor, x, _ = await prepared(request)
        pred, proba = await answer(x)
        return _json(predictions_json(predictor, pred, proba))

    @route("/invocations", "POST")
    async def invocations(request: Request) -> Response:
        return await predict(request)

    @route("/v2/models/{requested}/infer", "POST")
    async def infer(request: Request) -> Response:
        predictor = ready_predictor()
        check_name(request.path_params["requested"])
        if predictor.generative:
            raise HTTPError(404, "this model is a generator: POST /generate")
        batcher.arriving += 1
        try:
            body = await _read_json(request, opts.max_body_bytes)
            if not isinstance(body, Mapping) or not isinstance(body.get("inputs"), list):
                raise HTTPError(422, 'the body must be an object with a list "inputs"', "inputs")
            if not body["inputs"]:
                raise HTTPError(422, '"inputs" is empty; send at least one tensor', "inputs")
            tensors = [v2_tensor(t, i) for i, t in enumerate(body["inputs"])]
            samples = v2_samples(predictor, tensors)
            x = _limit_and_prepare(predictor, samples, "inputs[0]")
        finally:
            batcher.arriving -= 1
        pred, proba = await answer(x)
        outputs = v2_outputs(predictor, pred, proba)
        reply: dict[str, Any] = {"model_name": model_name(), "outputs": outputs}
        if predictor.card.get("trial") is not None:
            reply["model_version"] = str(predictor.card["trial"])
        if isinstance(body.get("id"), str):
            reply["id"] = body["id"]
        return _json(reply)

    @route("/generate", "POST")
    async def generate(request: Request) -> Response:
        predictor = ready_predictor()
        if not predictor.generative:
            raise HTTPError(404, "this model predicts; POST /predict (only GANs generate)")
        body = await _read_json(request, opts.max_body_bytes)
        body = {} if body is None else body
        if not isinstance(body, Mapping):
            raise HTTPError(422, 'the body must be an object such as {"n": 16}', "body")
        n, label, seed = body.get("n", 16), body.get("class"), body.get("seed")
        fmt = body.get("format", "array")
        for key, value in (("n", n), ("class", label), ("seed", seed)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise HTTPError(422, f"{key} must be an integer, got {value!r}", key)
        if fmt not in ("array", "png"):
            raise HTTPError(422, f"format must be array or png, got {fmt!r}", "format")
        if n > opts.max_instances:
            raise HTTPError(413, f"n={n} is over the limit of {opts.max_instances}", "n")
        loop = asyncio.get_running_loop()
        samples = await loop.run_in_executor(
            batcher.executor, lambda: predictor.generate(n, label, seed)
        )
        if fmt == "png":
            return Response(png_grid(samples), media_type="image/png")
        return _json({"samples": samples.tolist(), "shape": list(samples.shape)})

    return app
