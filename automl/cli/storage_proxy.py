"""``python -m automl storage-proxy URL --port N``: serve a study database to many workers.

The arguments are read here, before anything heavy is imported (``--help`` stays fast); the
server is ``automl.tuning.grpc_proxy``. Workers then use ``sweep.storage=grpc://HOST:PORT``.
"""

from __future__ import annotations

from collections.abc import Sequence

from automl.core.errors import UserError

__all__ = ["main"]

_MIN_THREADS = 32


def main(argv: Sequence[str]) -> int:
    """``python -m automl storage-proxy URL [--host H] [--port N] [--threads T]``."""
    from automl.core.args import ArgumentParser

    parser = ArgumentParser(
        prog="python -m automl storage-proxy",
        description=(
            "Serve a study database to many workers through one process (Optuna's gRPC "
            "storage proxy, plus automl's admission lock and heartbeats). Workers use "
            "sweep.storage=grpc://HOST:PORT. Runs until SIGINT or SIGTERM."
        ),
    )
    parser.add_argument("url", help="the database: postgresql://user:pass@host/db")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    parser.add_argument("--port", type=int, default=13000, help="port to listen on (13000)")
    parser.add_argument(
        "--threads",
        type=int,
        default=512,
        help="server threads; each worker waiting for admission holds one (512)",
    )
    args = parser.parse_args(argv)
    if args.threads < _MIN_THREADS or not 0 < args.port < 65536:
        raise UserError(
            f"storage-proxy: --threads={args.threads} must be >= {_MIN_THREADS} and "
            f"--port={args.port} within 1..65535"
        )
    from automl.tuning.grpc_proxy import serve

    serve(args.url, args.host, args.port, args.threads)
    return 0
