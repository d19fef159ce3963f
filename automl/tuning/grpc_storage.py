"""``sweep.storage=grpc://HOST:PORT``: a worker's storage through ``automl storage-proxy``.

Optuna's ``GrpcStorageProxy`` reads and writes trials through the proxy; it has no heartbeats
and no lock. This subclass adds what automl's workers need from the coordination service that
the same proxy serves (``automl.tuning.grpc_proxy``):

- heartbeats, and the stale-trial check that fails a trial whose heartbeats stopped (Optuna's
  ``fail_stale_trials`` works on it as on a database storage);
- the study's admission lock (``admission``), held as a gRPC stream: granted in arrival order,
  released when the worker ends the stream or dies.
"""

from __future__ import annotations

import json
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna

from automl.core.errors import UserError
from automl.tuning.internals import GrpcStorageBase

__all__ = ["GrpcStorage", "parse_grpc_url", "GRPC_PREFIX", "open_grpc"]

GRPC_PREFIX = "grpc://"
_SERVICE = "/automl.Coordination/"
_CONNECT_TIMEOUT = 10.0


def parse_grpc_url(url: str) -> tuple[str, int]:
    """``grpc://host:port`` -> ``(host, port)``.

    Raises:
        UserError: The URL has no host or no port.
    """
    rest = url.removeprefix(GRPC_PREFIX).rstrip("/")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(
            f"sweep.storage={url}: a proxy URL is grpc://HOST:PORT, e.g. grpc://db-proxy:13000 "
            "(the address python -m automl storage-proxy listens on)"
        )
    return host.strip("[]"), int(port)


class GrpcStorage(GrpcStorageBase):
    """Optuna's gRPC storage client with heartbeats, stale trials and the admission lock.

    Args:
        host: The proxy's host.
        port: The proxy's port.
        heartbeat_interval: Seconds between heartbeats; 0 turns them off.
        grace_period: Seconds without a heartbeat before a trial counts as lost.
        max_retries: How often a lost trial is re-run (its record says whether it counts).
        on_stale: Called with ``(study, trial)`` for each trial this process failed as
            lost by its heartbeats.
    """

    def __init__(
        self,
        host: str,
        port: int,
        heartbeat_interval: int = 30,
        grace_period: int = 120,
        max_retries: int = 2,
        on_stale: Callable[[optuna.Study, Any], object] | None = None,
    ) -> None:
        super().__init__(host=host, port=port)
        self.url = f"{GRPC_PREFIX}{host}:{port}"
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.max_retries = max_retries
        self.on_stale = on_stale

    def _call(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        call = self.channel.unary_unary(_SERVICE + method)
        return json.loads(call(json.dumps(payload).encode()))

    # -- heartbeats (Optuna's BaseHeartbeat) -------------------------------------------

    def record_heartbeat(self, trial_id: int) -> None:
        self._call("Heartbeat", {"trial_id": trial_id})

    def stale_trial_ids(self, study_id: int) -> list[int]:
        answer = self._call(
            "Stale",
            {
                "study_id": study_id,
                "grace_period": self.grace_period,
                "max_retries": self.max_retries,
            },
        )
        return [int(i) for i in answer["trial_ids"]]

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval or None

    def get_heartbeat_stale_trial_callback(self) -> Callable[..., Any] | None:
        return self.on_stale

    # -- the admission lock ------------------------------------------------------------

    @contextmanager
    def admission(self, key: str) -> Iterator[None]:
        """Hold the proxy's lock ``key`` (first come, first served) for the block.

        A proxy with no thread to spare for one more waiter says so; the worker then asks
        again a moment later rather than failing.
        """
        import grpc

        while True:
            release = threading.Event()
            call = self.channel.stream_stream(_SERVICE + "Hold")(_hold_requests(key, release))
            try:
                next(call)  # granted
                break
            except grpc.RpcError as exc:
                release.set()
                call.cancel()
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                time.sleep(0.2 + random.random())
            except BaseException:
                release.set()
                call.cancel()
                raise
        try:
            yield
        finally:
            release.set()
            for _ in call:  # the proxy has released it when the call ends
                pass


def _hold_requests(key: str, release: threading.Event) -> Iterator[bytes]:
    """The ``Hold`` stream's messages: the lock's key, then nothing until ``release``."""
    yield json.dumps({"key": key}).encode()
    release.wait()  # then the stream ends: the proxy releases the lock


def open_grpc(
    url: str,
    heartbeat_interval: int,
    grace_period: int,
    max_retries: int,
    on_stale: Callable[[optuna.Study, Any], object] | None,
) -> GrpcStorage:
    """Connect to the proxy at ``url`` (waits up to 15 s for it).

    Raises:
        UserError: gRPC is not installed, or no proxy answers at the address.
    """
    host, port = parse_grpc_url(url)
    try:
        import grpc  # noqa: F401
    except ImportError:
        raise UserError(f"sweep.storage={url} needs gRPC: pip install 'automl[grpc]'") from None
    with warnings.catch_warnings():  # experimental in Optuna since 4.2, still in 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = GrpcStorage(host, port, heartbeat_interval, grace_period, max_retries, on_stale)
    try:
        storage.wait_server_ready(timeout=_CONNECT_TIMEOUT)
    except ConnectionError:
        storage.close()
        raise UserError(
            f"sweep.storage={url}: no storage proxy answers there within "
            f"{_CONNECT_TIMEOUT:g} s; start one with python -m automl storage-proxy "
            f"postgresql://... --host {host} --port {port}, or check the address"
        ) from None
    return storage
