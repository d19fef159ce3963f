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
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from automl.core.errors import InputError
from automl.serving.http import ObserveMiddleware, error_response, json_response, read_json
from automl.serving.protocol import (
    HTTPError,
    png_grid,
    predictions_json,
    v2_outputs,
    v2_samples,
    v2_tensor,
)
from automl.serving.server import ModelServer, ServeOptions, failure

__all__ = ["ServeOptions", "create_app"]


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
    server = ModelServer(loader, opts, name)
    app = FastAPI(
        title="automl model server",
        lifespan=server.lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(ObserveMiddleware, metrics=server.metrics, max_body=opts.max_body_bytes)

    def route(path: str, method: str = "GET"):
        """A plain Starlette route (``endpoint(request)``): FastAPI's per-call dependency
        solving would be a tenth of a fast model's request time."""

        def add(endpoint):
            app.router.add_route(path, endpoint, methods=[method])
            return endpoint

        return add

    @app.exception_handler(HTTPError)
    async def http_error(request: Request, exc: HTTPError) -> Response:
        return error_response(exc.status, exc.message, exc.field)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        return error_response(422, str(exc), exc.field)

    @app.exception_handler(StarletteHTTPException)
    async def no_route(request: Request, exc: StarletteHTTPException) -> Response:
        # A path or method no route answers: the same one-line error body as every other
        # failure (Starlette's own would be {"detail": "Not Found"}).
        where = f"{request.method} {request.url.path}"
        if exc.status_code == 404:
            name = server.model_name()
            message = (
                f"no such path: {where}; this server answers GET /v2/models/{name}, "
                f"POST /predict, POST /v2/models/{name}/infer, GET /metadata, GET /metrics, "
                "GET /v2/health/ready"
            )
        elif exc.status_code == 405:
            message = f"{where}: method not allowed here"
        else:
            message = f"{where}: {exc.detail}"
        return error_response(exc.status_code, message)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # Anything not caught below (Starlette then closes the connection as well).
        error = failure(exc, f"{request.method} {request.url.path}")
        return error_response(error.status, error.message)

    @route("/v2/health/live")
    async def live(request: Request) -> Response:
        return json_response({"live": True})

    @route("/v2/health/ready")
    async def ready(request: Request) -> Response:
        if server.ready:
            return json_response({"ready": True})
        return json_response({"ready": False, "error": server.error}, 503)

    @route("/ping")
    async def ping(request: Request) -> Response:
        return await ready(request)

    @route("/v2")
    async def server_metadata(request: Request) -> Response:
        import automl

        return json_response({"name": "automl", "version": automl.__version__, "extensions": []})

    @route("/v2/models/{requested}")
    async def model_metadata(request: Request) -> Response:
        requested = request.path_params["requested"]
        predictor = server.ready_predictor()
        server.check_name(requested)
        meta = predictor.metadata()
        return json_response(
            {
                "name": server.model_name(),
                "versions": [str(meta.get("trial"))] if meta.get("trial") is not None else [],
                "platform": f"automl-{meta.get('model')}",
                "inputs": meta.get("inputs", []),
                "outputs": meta.get("outputs", []),
                "parameters": {k: v for k, v in meta.items() if k not in ("inputs", "outputs")},
            }
        )

    @route("/v2/models/{requested}/ready")
    async def model_ready(request: Request) -> Response:
        server.check_name(request.path_params["requested"])
        return await ready(request)

    @route("/metadata")
    async def metadata(request: Request) -> Response:
        predictor = server.ready_predictor()
        return json_response({"name": server.model_name(), **predictor.metadata()})

    @route("/metrics")
    async def metrics_text(request: Request) -> Response:
        server.publish_drift()
        return Response(
            server.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @route("/predict", "POST")
    async def predict(request: Request) -> Response:
        predictor, x, _ = await server.prepared(request)
        pred, proba = await server.answer(x)
        return json_response(predictions_json(predictor, pred, proba))

    @route("/invocations", "POST")
    async def invocations(request: Request) -> Response:
        return await predict(request)

    @route("/v2/models/{requested}/infer", "POST")
    async def infer(request: Request) -> Response:
        predictor = server.ready_predictor()
        server.check_name(request.path_params["requested"])
        if predictor.generative:
            raise HTTPError(404, "this model is a generator: POST /generate")
        server.batcher.arriving += 1
        try:
            body = await read_json(request, opts.max_body_bytes)
            if not isinstance(body, Mapping) or not isinstance(body.get("inputs"), list):
                raise HTTPError(422, 'the body must be an object with a list "inputs"', "inputs")
            if not body["inputs"]:
                raise HTTPError(422, '"inputs" is empty; send at least one tensor', "inputs")
            tensors = [v2_tensor(t, i) for i, t in enumerate(body["inputs"])]
            samples = v2_samples(predictor, tensors)
            x = server.limit_and_prepare(predictor, samples, "inputs[0]")
        finally:
            server.batcher.arriving -= 1
        pred, proba = await server.answer(x)
        outputs = v2_outputs(predictor, pred, proba)
        reply: dict[str, Any] = {"model_name": server.model_name(), "outputs": outputs}
        if predictor.card.get("trial") is not None:
            reply["model_version"] = str(predictor.card["trial"])
        if isinstance(body.get("id"), str):
            reply["id"] = body["id"]
        return json_response(reply)

    @route("/generate", "POST")
    async def generate(request: Request) -> Response:
        predictor = server.ready_predictor()
        if not predictor.generative:
            raise HTTPError(404, "this model predicts; POST /predict (only GANs generate)")
        body = await read_json(request, opts.max_body_bytes)
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
            server.batcher.executor, lambda: predictor.generate(n, label, seed)
        )
        if fmt == "png":
            return Response(png_grid(samples), media_type="image/png")
        return json_response({"samples": samples.tolist(), "shape": list(samples.shape)})

    return app
