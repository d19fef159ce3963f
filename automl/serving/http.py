"""HTTP plumbing of the server: JSON answers, the request-metrics middleware, bounded bodies.

Kept apart from the routes (``automl.serving.app``) and the model's lifecycle
(``automl.serving.server``): nothing here knows about models.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from automl.serving.metrics import ServingMetrics
from automl.serving.protocol import HTTPError

if TYPE_CHECKING:
    from automl.core.jsonvalue import JSONLike

__all__ = [
    "json_response",
    "error_response",
    "endpoint_of",
    "ObserveMiddleware",
    "read_body",
    "read_json",
    "read_uploads",
]


def json_response(data: JSONLike, status: int = 200) -> Response:
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

    def __init__(self, app: ASGIApp, metrics: ServingMetrics, max_body: int) -> None:
        self.app, self.metrics, self.max_body = app, metrics, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = endpoint_of(scope["path"])
        status = [500]

        async def send_status(message: Message) -> None:
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


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body's chunks, refusing more than ``limit`` bytes even without a Content-Length."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(
                413,
                f"request body is over the limit of {limit} bytes (serve --max-body-mb); "
                "send fewer instances per request",
            )
        yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes (413 beyond)."""
    return b"".join([chunk async for chunk in _limited(request, limit)])


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body, refusing more than ``limit`` bytes even without a Content-Length."""
    body = await read_body(request, limit)
    try:
        return json.loads(body)
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


MAX_UPLOADS = 1024
"""Most parts of a multipart body (the samples limit of ``serve --max-instances`` applies too)."""


async def read_uploads(request: Request, limit: int) -> list[bytes]:
    """The files of a ``multipart/form-data`` body, in the order they were sent.

    Parsed by Starlette's multipart parser (python-multipart) as the body streams in, at most
    ``limit`` bytes. Form fields that are no files are ignored.

    Raises:
        HTTPError: 413 over the limit; 422 for a malformed body or one without a file.
    """
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException, MultiPartParser

    parser = MultiPartParser(
        request.headers, _limited(request, limit), max_files=MAX_UPLOADS, max_fields=MAX_UPLOADS
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPError(422, f"the multipart body cannot be read ({exc.message})", "body") from None
    try:
        files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not files:
            raise HTTPError(
                422,
                "the multipart body has no file part; send each image as a file, e.g. "
                "curl -F file=@cat.png localhost:8000/predict",
                "files",
            )
        return [await f.read() for f in files]
    finally:
        await form.close()
