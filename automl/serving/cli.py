"""``python -m automl serve RUN_DIR``: check the export, then run uvicorn on the app."""

from __future__ import annotations

import logging
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from automl.core.errors import UserError

__all__ = ["main", "serve", "app_from_env", "require_serving"]

ENV_DIR = "AUTOML_SERVE_DIR"
ENV_OPTIONS = "AUTOML_SERVE_OPTIONS"
EXTRA_HINT = "pip install 'automl[serve]' (or bash scripts/setup)"


def require_serving() -> None:
    """Raise ``UserError`` when the ``serve`` extra is not installed."""
    import importlib

    absent = []
    for module in ("fastapi", "uvicorn", "prometheus_client", "python_multipart"):
        try:
            importlib.import_module(module)
        except ImportError:
            absent.append(module)
    if absent:
        raise UserError(f"serving needs {', '.join(absent)}, which are not installed: {EXTRA_HINT}")


def _parser():
    from automl.core.args import ArgumentParser

    p = ArgumentParser(
        prog="python -m automl serve",
        description="Serve an exported model (RUN_DIR/best) over HTTP: Open Inference Protocol "
        "v2, POST /predict, POST /invocations, GET /metadata, GET /metrics. docs/serving.md",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (runs/<study>) or its best/")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument(
        "--max-batch-size", type=int, default=64, help="rows per batched model call (64)"
    )
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=5.0,
        help="longest wait for arriving requests to join a batch (5 ms)",
    )
    p.add_argument("--max-body-mb", type=float, default=8.0, help="request body limit, MiB (8)")
    p.add_argument(
        "--max-instances", type=int, default=1024, help="samples per request limit (1024)"
    )
    p.add_argument("--timeout-s", type=float, default=30.0, help="per-request timeout (30 s)")
    p.add_argument(
        "--drift-window", type=int, default=1000, help="recent rows the drift gauges use (1000)"
    )
    p.add_argument(
        "--inline-ms",
        type=float,
        default=2.0,
        help="model calls faster than this run on the event loop, others in a thread (2 ms)",
    )
    p.add_argument("--name", default=None, help="model name in /v2/models/NAME (the study's)")
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level",
    )
    return p


def _options(args):
    from automl.serving.app import ServeOptions

    checks = [
        (args.workers >= 1, "--workers must be >= 1"),
        (0 <= args.port <= 65535, "--port must be in 0..65535"),
        (args.max_batch_size >= 1, "--max-batch-size must be >= 1"),
        (args.max_wait_ms >= 0, "--max-wait-ms must be >= 0"),
        (args.max_body_mb > 0, "--max-body-mb must be > 0"),
        (args.max_instances >= 1, "--max-instances must be >= 1"),
        (args.timeout_s > 0, "--timeout-s must be > 0"),
        (args.drift_window >= 1, "--drift-window must be >= 1"),
        (args.inline_ms >= 0, "--inline-ms must be >= 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(f"python -m automl serve: {message}")
    return ServeOptions(
        max_batch_size=args.max_batch_size,
        max_wait_ms=args.max_wait_ms,
        max_body_mb=args.max_body_mb,
        max_instances=args.max_instances,
        timeout_s=args.timeout_s,
        drift_window=args.drift_window,
        inline_ms=args.inline_ms,
    )


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise UserError(
                f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host"
            ) from None


def app_from_env():
    """The app of one uvicorn worker process (``--workers N``): options from the environment."""
    import json

    from automl.results.predictor import load_best
    from automl.serving.app import ServeOptions, create_app

    options = json.loads(os.environ[ENV_OPTIONS])
    name = options.pop("name", None)
    directory = os.environ[ENV_DIR]
    return create_app(lambda: load_best(directory), ServeOptions(**options), name)


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          options=None, name: str | None = None, log_level: str = "info") -> int:  # fmt: skip
    """Load ``run_dir``'s export (refusing a bad one) and serve it until interrupted.

    Raises:
        UserError: The serve extra is missing, the folder is no sound export, or the port
            cannot be bound (one line each).
    """
    require_serving()
    import uvicorn

    from automl.results.predictor import load_best
    from automl.serving.app import ServeOptions, create_app

    options = options or ServeOptions()
    predictor = load_best(run_dir)  # every check, before anything listens
    _check_port(host, port)
    shown = name or predictor.card.get("name")
    print(
        f"automl: serving {shown} ({predictor.card.get('model')}, trial "
        f"{predictor.card.get('trial')}) from {predictor.directory} on http://{host}:{port} "
        f"with {workers} worker(s): POST /predict, /v2/models/{shown}/infer; GET /metrics",
        file=sys.stderr,
        flush=True,
    )
    logging.basicConfig(level=getattr(logging, log_level.upper()), format="%(message)s")
    if workers == 1:
        loaded = predictor
        app = create_app(lambda: loaded, options, name)
        uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
        return 0
    import dataclasses
    import json

    # Each worker loads the export itself; metrics are shared through prometheus-client's
    # multiprocess files, in a folder of this run's own.
    with tempfile.TemporaryDirectory(prefix="automl-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ[ENV_DIR] = str(predictor.directory)
        os.environ[ENV_OPTIONS] = json.dumps({**dataclasses.asdict(options), "name": name})
        uvicorn.run(
            "automl.serving.cli:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
    return 0


def main(argv: Sequence[str]) -> int:
    """``python -m automl serve ...``; returns the exit code."""
    args = _parser().parse_args(argv)
    require_serving()
    options = _options(args)
    return serve(
        args.run_dir, args.host, args.port, args.workers, options, args.name, args.log_level
    )
