"""The app in this process on a real uvicorn server, with the model's calls gated by events:
readiness, adaptive batching and the per-request timeout, observed deterministically."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import numpy as np
import uvicorn
from prometheus_client.parser import text_string_to_metric_families
from serving_fixtures import free_port
from sklearn.datasets import load_breast_cancer

from automl.results.predictor import load_best
from automl.serving import ServeOptions, create_app


@contextmanager
def running(app) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.01)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


def poll(check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def scrape(url: str) -> dict:
    text = httpx.get(f"{url}/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


class Gated:
    """A real predictor whose model calls wait for ``gate`` and are counted."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor
        self.gate = threading.Event()
        self.calls: list[int] = []
        real = predictor.outputs

        def outputs(x, proba=True):
            self.calls.append(len(x))
            assert self.gate.wait(60)
            return real(x, proba)

        predictor.outputs = outputs


def test_ready_only_after_load_and_one_warm_up_prediction(xgb_run):
    loading = threading.Event()
    gated = Gated(load_best(xgb_run))

    def loader():
        assert loading.wait(60)
        return gated.predictor

    app = create_app(loader, ServeOptions(inline_ms=0))  # model calls in the worker thread
    with running(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2/health/ready").status_code == 503
        early = client.post("/predict", json={"instances": [[0.0] * 30]})
        assert early.status_code == 503 and "poll GET /v2/health/ready" in early.json()["error"]
        loading.set()  # loaded; the warm-up call now waits at the gate
        poll(lambda: len(gated.calls) == 1)
        assert client.get("/v2/health/ready").status_code == 503
        gated.gate.set()
        poll(lambda: client.get("/v2/health/ready").status_code == 200)
        assert gated.calls == [1]  # exactly one warm-up row, before any request
        assert scrape(url).get(("automl_adaptive_batch_size_count", ()), 0) == 0
        assert client.post("/predict", json={"instances": [[0.0] * 30]}).status_code == 200


def test_concurrent_requests_share_model_calls(xgb_run):
    gated = Gated(load_best(xgb_run))
    gated.gate.set()
    options = ServeOptions(max_batch_size=64, max_wait_ms=0, inline_ms=0)
    app = create_app(lambda: gated.predictor, options)
    rows = load_breast_cancer().data[:32]
    expected = gated.predictor.predict_labels(rows)
    with running(app) as url:
        poll(lambda: httpx.get(f"{url}/v2/health/ready").status_code == 200)
        gated.gate.clear()
        gated.calls.clear()

        async def clients():
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                first = asyncio.create_task(
                    client.post("/predict", json={"instances": rows[:1].tolist()})
                )
                while not gated.calls:  # the first request holds the model
                    await asyncio.sleep(0.005)
                rest = [
                    asyncio.create_task(
                        client.post("/predict", json={"instances": rows[i : i + 1].tolist()})
                    )
                    for i in range(1, 32)
                ]
                key = ("automl_request_in_progress", (("endpoint", "/predict"),))
                while scrape(url).get(key) != 32:  # all 32 requests are in
                    await asyncio.sleep(0.01)
                gated.gate.set()
                return await asyncio.gather(first, *rest)

        answers = asyncio.run(clients())
        assert [a.json()["predictions"][0] for a in answers] == expected
        assert gated.calls[0] == 1 and sum(gated.calls) == 32
        assert len(gated.calls) < 32 and max(gated.calls) > 1, gated.calls
        values = scrape(url)
        assert values["automl_adaptive_batch_size_count", ()] == len(gated.calls)
        assert values["automl_adaptive_batch_size_sum", ()] == 32


def test_a_model_slower_than_the_timeout_is_a_504_and_the_server_recovers(xgb_run):
    gated = Gated(load_best(xgb_run))
    gated.gate.set()
    app = create_app(lambda: gated.predictor, ServeOptions(timeout_s=0.5, inline_ms=0))
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        poll(lambda: client.get("/v2/health/ready").status_code == 200)
        gated.gate.clear()
        slow = client.post("/predict", json={"instances": [[0.0] * 30]})
        assert slow.status_code == 504 and "--timeout-s" in slow.json()["error"]
        gated.gate.set()
        fine = client.post("/predict", json={"instances": [np.zeros(30).tolist()]})
        assert fine.status_code == 200


def test_a_model_failure_is_a_one_line_500_and_the_next_request_is_served(xgb_run):
    predictor = load_best(xgb_run)
    real = predictor.outputs
    fail = threading.Event()

    def outputs(x, proba=True):
        if fail.is_set():
            fail.clear()
            raise RuntimeError("the model broke\nsecond line")
        return real(x, proba)

    predictor.outputs = outputs
    with running(create_app(lambda: predictor)) as url, httpx.Client(base_url=url) as client:
        poll(lambda: client.get("/v2/health/ready").status_code == 200)
        fail.set()
        broken = client.post("/predict", json={"instances": [[0.0] * 30]})
        assert broken.status_code == 500
        assert broken.json()["error"].startswith("the server failed on this request (Runtime")
        assert "second line" not in broken.text
        assert client.post("/predict", json={"instances": [[0.0] * 30]}).status_code == 200
        key = ("automl_request_total", (("endpoint", "/predict"), ("http_response_code", "500")))
        assert scrape(url)[key] == 1
