"""HTTP plumbing of the server: JSON answers, the request-metrics middleware, bounded bodies.

Kept apart from the routes (``automl.serving.app``) and the model's lifecycle
(``automl.serving.server``): nothing here knows about models.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from automl.serving.metrics import ServingMetrics
from automl.serving.protocol import HTTPError

__all__ = ["json_response", "error_response", "endpoint_of", "ObserveMiddleware", "read_json"]


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as a JSON response."""
    return Response(json.dumps(data), status_code=status, media_type="application/json")


def error_response(status: int, message: str, field: str = "") -> Response:
    """The error body every failure answers with: ``{"error": message, "field": where}``."""
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    return json_response(body, status)


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


class ObserveMiddleware:
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
                response = error_response(
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


async def read_json(request: Request, limit: int) -> Any:
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
    except RecursionError:
        # Python's parser recurses per level: a body nested thousands deep is no request.
        raise HTTPError(
            422,
            "the body is JSON nested too deeply to parse; a request nests a few levels "
            "(instances, samples, rows, values)",
            "body",
        ) from None
