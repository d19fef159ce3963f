"""Serving an exported model over HTTP: ``python -m automl serve RUN_DIR``.

- ``automl.serving.app``: the FastAPI app and its routes (Open Inference Protocol v2,
  ``/predict``, ``/invocations``, ``/generate``, ``/metadata``, ``/metrics``);
- ``automl.serving.server``: the served model (loading, readiness, limits, model calls, drift);
- ``automl.serving.http``: JSON and error answers, the request-metrics middleware, bodies;
- ``automl.serving.protocol``: request and response bodies (numpy only);
- ``automl.serving.batching``: adaptive batching of concurrent requests;
- ``automl.serving.metrics``: Prometheus metrics, drift included;
- ``automl.serving.cli``: the ``serve`` command and its uvicorn runner.

It may import ``results`` (loading ``best/``), ``study``, ``backends``, ``data`` and
``core``, never ``tuning``. Importing this package is cheap; FastAPI, uvicorn and
prometheus-client (the ``serve`` extra: ``pip install 'automl[serve]'``) load with the
modules that need them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServeOptions", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in ("ServeOptions", "create_app"):
        from automl.serving import app

        return getattr(app, name)
    if name == "serve":
        from automl.serving.cli import serve

        return serve
    raise AttributeError(f"module 'automl.serving' has no attribute {name!r}")
