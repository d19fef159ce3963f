"""Serving overhead and adaptive batching: `automl serve` against a bare FastAPI endpoint.

For the CNN (digits) and XGBoost (breast cancer) exports, three servers on loopback, one after
the other, each measured in this run with the same load generator:

- ``bare``: ``benchmarks/peers/bare_serve.py``, a plain sync FastAPI endpoint calling the
  same ``Predictor`` directly (same checks, preprocessing and outputs; nothing else);
- ``automl``: ``python -m automl serve`` with its defaults (metrics, drift, adaptive batching
  ``--max-batch-size 64 --max-wait-ms 5``);
- ``automl-nobatch``: the same with ``--max-batch-size 1`` (what batching buys).

Load: one sample per request; ``--requests`` requests from 1 client (sequential), then
``--requests-64`` requests from 64 concurrent clients, each phase also capped at
``--max-seconds``; it stops by itself. The three servers run side by side (idle but for the
one under load) and take turns, ``--rounds`` times, so a change in the machine's load hits
all of them alike; each figure is the median over rounds. The client is a minimal HTTP/1.1
keep-alive client on asyncio streams (httpx's own overhead would dominate at 64 clients).
p50/p99 latency and requests/s; ratios are against ``bare`` measured in the same run.

    python benchmarks/serving.py --json benchmarks/results/serving.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / ".work" / "serving"

MODELS = {
    "cnn": ["model=cnn", "data=digits", "trainer=fast", "sweep.n_trials=1"],
    "xgboost": ["model=xgboost", "data=breast_cancer", "sweep.n_trials=2"],
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="cnn,xgboost", help="comma-separated: cnn, xgboost")
    p.add_argument("--requests", type=int, default=2000, help="requests from 1 client")
    p.add_argument("--requests-64", type=int, default=4000, help="requests from 64 clients")
    p.add_argument("--clients", type=int, default=64, help="concurrent clients of phase two")
    p.add_argument("--max-seconds", type=float, default=60, help="cap of each phase")
    p.add_argument("--warmup", type=int, default=50, help="unmeasured requests per server")
    p.add_argument("--rounds", type=int, default=3, help="turns of the three servers")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS of every server (1, as in the other CNN benchmarks: two threads "
        "on a shared 2-core machine swing tenfold with its load; 0 = the libraries' default)",
    )
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    p.add_argument("--work", type=Path, default=WORK, help="where the exports are trained")
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    bad = [m for m in args.models if m not in MODELS]
    if bad or args.requests < 10 or args.requests_64 < 10 or args.clients < 1 or args.rounds < 1:
        p.error(f"models must be among {', '.join(MODELS)}; requests >= 10; clients >= 1")
    return args


def export(model: str, work: Path) -> Path:
    """Train the export once (a small real study); reuse it on later runs."""
    run = work / model
    if not (run / "best" / "schema.json").is_file():
        cmd = [sys.executable, "-m", "automl", *MODELS[model], f"hydra.run.dir={run}",
               "sweep.live=false"]  # fmt: skip
        print("$", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
    return run


def sample_body(model: str) -> bytes:
    from sklearn.datasets import load_breast_cancer, load_digits

    x = load_digits().images[:1] if model == "cnn" else load_breast_cancer().data[:1]
    return json.dumps({"instances": x.tolist()}).encode()


class Connection:
    """One HTTP/1.1 keep-alive connection sending the same POST again and again."""

    def __init__(self, port: int, body: bytes) -> None:
        self.port = port
        self.request = (
            f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def post(self) -> float:
        start = time.perf_counter()
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        return time.perf_counter() - start

    def close(self) -> None:
        self.writer.close()


async def load(port: int, body: bytes, clients: int, total: int, cap: float) -> dict[str, Any]:
    """``total`` requests from ``clients`` connections (or until ``cap`` seconds)."""
    conns = [Connection(port, body) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in conns))
    latencies: list[float] = []
    remaining = [total]
    deadline = time.perf_counter() + cap

    async def worker(conn: Connection) -> None:
        while remaining[0] > 0 and time.perf_counter() < deadline:
            remaining[0] -= 1
            latencies.append(await conn.post())

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    wall = time.perf_counter() - start
    for c in conns:
        c.close()
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "seconds": wall,
        "rps": len(ordered) / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def start(kind: str, run: Path, port: int) -> subprocess.Popen:
    if kind == "bare":
        cmd = [sys.executable, str(HERE / "peers" / "bare_serve.py"), str(run), str(port)]
    else:
        extra = ["--max-batch-size", "1"] if kind == "automl-nobatch" else []
        cmd = [sys.executable, "-m", "automl", "serve", str(run), "--port", str(port),
               "--log-level", "warning", *extra]  # fmt: skip
    env = dict(os.environ)
    if THREADS[0]:
        env.update(OMP_NUM_THREADS=str(THREADS[0]), MKL_NUM_THREADS=str(THREADS[0]))
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def wait_ready(proc: subprocess.Popen, port: int) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode()[-2000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server not ready in 120 s")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


KINDS = ("bare", "automl", "automl-nobatch")
THREADS = [1]


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")}
    return {**out, "requests": sum(r["requests"] for r in runs), "rounds": runs}


def measure(run: Path, body: bytes, args: argparse.Namespace) -> dict[str, Any]:
    """Every server's phases, ``--rounds`` turns each, medians over rounds."""
    ports = {kind: free_port() for kind in KINDS}
    procs = {kind: start(kind, run, ports[kind]) for kind in KINDS}
    phases = {"1": (1, args.requests), str(args.clients): (args.clients, args.requests_64)}
    raw: dict[str, dict[str, list]] = {k: {p: [] for p in phases} for k in KINDS}
    try:
        for kind in KINDS:
            wait_ready(procs[kind], ports[kind])
            asyncio.run(load(ports[kind], body, 4, args.warmup, args.max_seconds))
        for _ in range(args.rounds):
            for kind in KINDS:
                for phase, (clients, total) in phases.items():
                    result = asyncio.run(load(ports[kind], body, clients, total, args.max_seconds))
                    raw[kind][phase].append(result)
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(30)
    return {kind: {p: median_of(runs) for p, runs in raw[kind].items()} for kind in KINDS}


def model_call_ms(run: Path, body: bytes, threads: int) -> dict[str, float]:
    """Median time of one model call on 1 and on 64 prepared rows, in a fresh process.

    What batching can save per request is ``t1 - t64 / 64``; the HTTP and JSON handling of
    each request stays.
    """
    code = (
        "import json, statistics, sys, time, numpy as np\n"
        "from automl.results.predictor import load_best\n"
        "p = load_best(sys.argv[1]); one = p.prepare(json.loads(sys.argv[2])['instances'])\n"
        "many = np.repeat(one, 64, axis=0); out = {}\n"
        "for name, x in (('1', one), ('64', many)):\n"
        "    p.outputs(x); t = []\n"
        "    for _ in range(30):\n"
        "        s = time.perf_counter(); p.outputs(x); t.append(time.perf_counter() - s)\n"
        "    out[name] = 1000 * statistics.median(t)\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    done = subprocess.run(
        [sys.executable, "-c", code, str(run), body.decode()],
        cwd=REPO, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def main(argv=None) -> int:
    args = parse_args(argv)
    THREADS[0] = args.threads
    import platform

    results: dict[str, Any] = {
        "command": "python benchmarks/serving.py " + " ".join(argv or sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg(),
            "server_threads": args.threads,
        },
        "models": {},
    }
    for model in args.models:
        run = export(model, args.work)
        body = sample_body(model)
        rows = measure(run, body, args)
        calls = model_call_ms(run, body, args.threads)
        rows["model_call_ms"] = calls
        results["models"][model] = rows
        bare1, bare64 = rows["bare"]["1"], rows["bare"][str(args.clients)]
        print(f"\n{model}: one sample per request")
        print(f"{'server':16} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  vs bare")
        for kind in KINDS:
            phases = rows[kind]
            for clients, r in phases.items():
                base = bare1 if clients == "1" else bare64
                ratio = (
                    f"p99 x{r['p99_ms'] / base['p99_ms']:.2f}"
                    if clients == "1"
                    else f"throughput x{r['rps'] / base['rps']:.2f}"
                )
                print(
                    f"{kind:16} {clients:>7} {r['rps']:8.0f} {r['p50_ms']:8.2f} "
                    f"{r['p99_ms']:8.2f}  {ratio}"
                )
        auto = rows["automl"]
        rows["ratios"] = {
            "p99_1_client_vs_bare": auto["1"]["p99_ms"] / bare1["p99_ms"],
            "throughput_many_clients_vs_bare": auto[str(args.clients)]["rps"] / bare64["rps"],
            "clients": args.clients,
        }
        ratios = rows["ratios"]
        many = str(args.clients)
        per_request = {k: 1000 / rows[k][many]["rps"] for k in ("bare", "automl")}
        print(
            f"model call: {calls['1']:.3f} ms for 1 row, {calls['64']:.3f} ms for 64 rows "
            f"({calls['64'] / 64:.3f} ms a row); at {many} clients each request costs "
            f"{per_request['bare']:.2f} ms of server time in bare, {per_request['automl']:.2f} "
            "ms in automl"
        )
        print(
            f"targets: p99 at 1 client <= 1.2x bare: {ratios['p99_1_client_vs_bare']:.2f}x; "
            f"throughput at {args.clients} clients >= 3x bare: "
            f"{ratios['throughput_many_clients_vs_bare']:.2f}x"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
