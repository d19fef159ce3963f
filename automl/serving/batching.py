"""Adaptive batching: concurrent requests share one model call.

One collector task takes the first queued request, then everything already queued (up to
``max_batch_size`` rows), and runs the model once on the concatenation: in a single worker
thread while the event loop keeps accepting requests or, for a model whose calls take under
``inline_ms``, on the event loop itself (requests that arrive meanwhile wait in the socket
buffers and form the next batch). Under load, requests pile up while the model
runs, so batches grow by themselves; a lone client never waits for company. ``max_wait_ms``
adds a bounded wait for requests that have *arrived* (their body is being read or checked)
but are not queued yet, so a burst lands in one batch; with no such request nobody waits.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["AdaptiveBatcher"]


@dataclass
class _Item:
    x: np.ndarray
    future: asyncio.Future


class AdaptiveBatcher:
    """Group requests into model calls.

    Args:
        run: ``run(x) -> tuple of arrays`` (first axis = rows of ``x``), called in a worker
            thread with the concatenated inputs of a batch.
        max_batch_size: Rows per model call; a larger single request runs alone.
        max_wait_ms: Longest wait for arriving requests once a batch has started.
        after: Called after each call with ``(x, outputs)``, once the requests have their
            answers (metrics, drift): off the latency path.
        inline_ms: Model calls that have been taking less than this (a running average) run
            on the event loop itself: for a fast model the hop to a worker thread and back
            costs more than the call (and at one client it is most of the latency). Slower
            calls run in the worker thread, so health checks, metrics and timeouts stay live
            while the model works. 0 sends every call to the worker thread.
    """

    def __init__(
        self,
        run: Callable[[np.ndarray], tuple[Any, ...]],
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        after: Callable[[np.ndarray, tuple[Any, ...]], None] | None = None,
        inline_ms: float = 2.0,
    ) -> None:
        self.run = run
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000
        self.after = after
        self.arriving = 0
        self.inline_below = max(0.0, float(inline_ms)) / 1000
        self._call_s = 0.0
        self._calls = 0
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="automl-model")

    def start(self) -> None:
        """Start the collector on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._collect())

    async def stop(self) -> None:
        """Stop collecting; requests still queued get an error."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        while self._queue is not None and not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(RuntimeError("the server is shutting down"))
        self.executor.shutdown(wait=False)

    async def submit(self, x: np.ndarray) -> tuple[Any, ...]:
        """Queue prepared inputs; return this request's rows of the model's outputs."""
        assert self._queue is not None, "AdaptiveBatcher.start() was not called"
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(x, future))
        return await future

    async def _collect(self) -> None:
        queue = self._queue
        assert queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await queue.get()
            batch, rows = [first], len(first.x)
            deadline = time.monotonic() + self.max_wait
            while rows < self.max_batch_size:
                if not queue.empty():
                    item = queue.get_nowait()
                elif self.arriving > 0 and time.monotonic() < deadline:
                    try:
                        item = await asyncio.wait_for(queue.get(), deadline - time.monotonic())
                    except (asyncio.TimeoutError, TimeoutError):
                        break
                else:
                    break
                if rows + len(item.x) > self.max_batch_size:
                    # Does not fit: it starts the next batch, ahead of later arrivals.
                    await self._call(loop, batch)
                    batch, rows = [item], len(item.x)
                    deadline = time.monotonic() + self.max_wait
                    continue
                batch.append(item)
                rows += len(item.x)
            await self._call(loop, batch)

    async def _call(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        live = [item for item in batch if not item.future.done()]  # timed-out ones are gone
        if not live:
            return
        x = live[0].x if len(live) == 1 else np.concatenate([item.x for item in live])
        inline = self._call_s < self.inline_below
        try:
            if inline:
                started = time.perf_counter()
                outputs = self.run(x)
            else:
                started = time.perf_counter()
                outputs = await loop.run_in_executor(self.executor, self.run, x)
            elapsed = time.perf_counter() - started
            self._call_s = elapsed if self._calls == 0 else 0.8 * self._call_s + 0.2 * elapsed
            self._calls += 1
        except Exception as exc:
            for item in live:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        start = 0
        for item in live:
            end = start + len(item.x)
            if not item.future.done():
                rows = tuple(o[start:end] if o is not None else None for o in outputs)
                item.future.set_result(rows)
            start = end
        if self.after is not None:
            if inline:
                loop.call_soon(self._after, x, outputs)
            else:
                loop.run_in_executor(self.executor, self._after, x, outputs)

    def _after(self, x: np.ndarray, outputs: tuple[Any, ...]) -> None:
        try:
            self.after(x, outputs)  # type: ignore[misc]
        except Exception:  # bookkeeping must never take the server down; say what broke
            logging.getLogger("automl.serving").exception("after-batch bookkeeping failed")
