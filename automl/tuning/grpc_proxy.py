"""The storage proxy's server: one process between every worker of a study and its database.

Each worker that talks to PostgreSQL directly holds two or three connections, so about 40
workers reach PostgreSQL's default ``max_connections=100``. This command runs Optuna's gRPC
storage proxy (``optuna.storages.run_grpc_proxy_server``'s servicer, with Optuna's cache in
front of the database) and, in the same gRPC server, automl's coordination service: what a
worker needed a database connection for beyond reading and writing trials.

- ``Hold`` (a stream): the study's admission lock. The lock is granted in arrival order and
  held while the stream is open; a worker that dies (``kill -9``, a lost node) closes its
  connection and the lock is released at once, as PostgreSQL releases an advisory lock with
  its session.
- ``Heartbeat``: records a running trial's heartbeat in the database.
- ``Stale``: the RUNNING trials of a study whose heartbeats stopped for the caller's grace
  period, each recorded with why (``automl.tuning.storage``), for Optuna's
  ``fail_stale_trials``.

Messages are JSON; the service needs no generated code (gRPC's generic handlers). The client
side is ``automl.tuning.grpc_storage``; the command, ``automl.cli.storage_proxy``.
"""

from __future__ import annotations

import json
import signal
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from automl.core.errors import UserError

__all__ = ["SERVICE", "SPARE_THREADS", "FairLock", "CoordinationService", "make_server", "serve"]

SERVICE = "automl.Coordination"
# Server threads kept free for storage calls: a lock waiter holds a thread, and the holder
# must always find one to finish its admission.
SPARE_THREADS = 16


class FairLock:
    """An exclusive lock granted in the order it was asked for (first come, first served).

    A plain ``threading.Lock`` lets a releasing worker take it again before the others wake,
    and wakes waiters in no order: the wait of an unlucky worker has no bound. Here each
    waiter has its own event and the releaser hands the lock to the next in line.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._queue: deque[threading.Event] = deque()

    def acquire(self, alive: Callable[[], bool], poll: float = 0.5) -> threading.Event | None:
        """Wait for the lock; ``None`` if ``alive()`` turned false first (the caller left)."""
        turn = threading.Event()
        with self._mutex:
            self._queue.append(turn)
            if self._queue[0] is turn:
                turn.set()
        while not turn.wait(poll):
            if not alive():
                self.release(turn)
                return None
        return turn

    def release(self, turn: threading.Event) -> None:
        """Release the lock held (or leave the line waited in) with ``turn``."""
        with self._mutex:
            if self._queue and self._queue[0] is turn:
                self._queue.popleft()
                if self._queue:
                    self._queue[0].set()
            elif turn in self._queue:
                self._queue.remove(turn)

    @property
    def waiting(self) -> int:
        """Holders and waiters now."""
        return len(self._queue)


class CoordinationService:
    """The admission lock, heartbeats and stale-trial checks, served beside the proxy.

    Args:
        rdb: The database storage (``automl.tuning.storage._RDBStorage``).
        threads: The server's thread pool size (bounds the lock's waiters).
    """

    def __init__(self, rdb: Any, threads: int) -> None:
        self.rdb = rdb
        self.threads = threads
        self._locks: dict[str, FairLock] = {}
        self._mutex = threading.Lock()
        self._holding = 0

    def _lock(self, key: str) -> FairLock:
        with self._mutex:
            return self._locks.setdefault(key, FairLock())

    def hold(self, requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        """The admission lock: granted once ``{"key": ...}`` is first in line, held until the
        client ends its stream or goes away."""
        import grpc

        key = str(json.loads(next(requests))["key"])
        with self._mutex:
            if self._holding >= self.threads - SPARE_THREADS:
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"more workers wait for admission than the proxy has threads "
                    f"({self.threads}); start it with a larger --threads",
                )
            self._holding += 1
        lock = self._lock(key)
        state: dict[str, Any] = {"turn": None, "done": False}
        guard = threading.Lock()

        def release() -> None:  # once, from whichever ends first: the stream or the RPC
            with guard:
                if state["done"]:
                    return
                state["done"] = True
                turn = state["turn"]
            if turn is not None:
                lock.release(turn)
            with self._mutex:
                self._holding -= 1

        context.add_callback(release)  # the client went away: the lock goes with it
        try:
            turn = lock.acquire(context.is_active)
            if turn is None:
                return
            with guard:
                state["turn"] = turn
                gone = state["done"]
            if gone:  # the client left between the grant and now
                lock.release(turn)
                return
            yield b'{"granted": true}'
            for _ in requests:  # the client's "release", or the end of its stream
                break
        finally:
            release()

    def heartbeat(self, request: bytes, context: Any) -> bytes:
        """Record the heartbeat of ``{"trial_id": N}``."""
        self.rdb.record_heartbeat(int(json.loads(request)["trial_id"]))
        return b"{}"

    def stale(self, request: bytes, context: Any) -> bytes:
        """``{"trial_ids": [...]}``: the study's RUNNING trials silent past the grace period."""
        args = json.loads(request)
        ids = self.rdb.stale_trials(
            int(args["study_id"]), float(args["grace_period"]), int(args["max_retries"])
        )
        return json.dumps({"trial_ids": ids}).encode()

    def handler(self) -> Any:
        """The gRPC handler of the service (raw bytes in and out)."""
        import grpc

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Hold": grpc.stream_stream_rpc_method_handler(self.hold),
                "Heartbeat": grpc.unary_unary_rpc_method_handler(self.heartbeat),
                "Stale": grpc.unary_unary_rpc_method_handler(self.stale),
            },
        )


def make_server(url: str, host: str, port: int, threads: int) -> Any:
    """The gRPC server for the database at ``url``: Optuna's proxy and the coordination.

    Raises:
        UserError: gRPC is not installed, or the database cannot be opened.
    """
    try:
        import grpc
    except ImportError as exc:
        raise UserError(f"storage-proxy needs gRPC ({exc}): pip install 'automl[grpc]'") from None
    import optuna

    from automl.tuning.internals import add_storage_service
    from automl.tuning.storage import make_storage

    if not url.startswith(("postgresql", "mysql", "sqlite")):
        raise UserError(
            f"storage-proxy {url}: the proxy serves a database (postgresql://..., mysql://..., "
            "sqlite:///...), not a journal file; pass the database's URL"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = make_storage(url, ".", heartbeat_interval=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        cached = optuna.storages.get_storage(rdb)  # Optuna's cache: trials read once
    server = grpc.server(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="proxy"),
        options=[
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            # A worker on a node that vanished (no FIN ever comes) is found by keepalive
            # pings within a minute, and its admission lock released.
            ("grpc.keepalive_time_ms", 20_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    add_storage_service(server, cached)
    server.add_generic_rpc_handlers((CoordinationService(rdb, threads).handler(),))
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise UserError(
            f"storage-proxy: cannot listen on {host}:{port} (in use, or not an address of this "
            "machine); choose another --port or --host"
        )
    return server


def serve(url: str, host: str, port: int, threads: int) -> None:
    """Serve ``url`` on ``host:port`` until SIGINT or SIGTERM, then stop (5 s of grace)."""
    from automl.tuning.storage import display_url

    server = make_server(url, host, port, threads)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    print(f"automl storage proxy: {display_url(url)} served on grpc://{host}:{port}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop(grace=5).wait()
    print("automl storage proxy: stopped", flush=True)
