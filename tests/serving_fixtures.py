"""Exports made by real small studies, and real servers on them, shared by the serving tests.

Each export is trained once per test session (`python -m automl ...` in a subprocess, as a
user runs it); servers are `python -m automl serve` subprocesses on a free loopback port.
Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from helpers import cli_env, run_cli


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _study(root: Path, name: str, args: list[str]) -> Path:
    run_dir = root / name
    out = run_cli([*args, f"hydra.run.dir={run_dir}", "sweep.live=false"], root, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (run_dir / "best" / "schema.json").is_file()
    return run_dir


@pytest.fixture(scope="session")
def serving_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="session")
def xgb_run(serving_root) -> Path:
    """XGBoost on breast cancer (30 named numeric features, 2 classes)."""
    return _study(
        serving_root,
        "xgboost-breast_cancer",
        ["model=xgboost", "data=breast_cancer", "sweep.n_trials=2", "model.n_estimators=60"],
    )


@pytest.fixture(scope="session")
def cnn_run(serving_root) -> Path:
    """A CNN on digits (1 x 8 x 8 images, 10 classes), one fast trial."""
    return _study(
        serving_root, "cnn-digits", ["model=cnn", "data=digits", "trainer=fast", "sweep.n_trials=1"]
    )


@pytest.fixture(scope="session")
def forest_run(serving_root) -> Path:
    """A forest regressor on diabetes (10 features, a value per sample)."""
    return _study(
        serving_root,
        "forest-diabetes",
        ["model=forest", "data=diabetes", "sweep.n_trials=1", "model.n_estimators=40"],
    )


@pytest.fixture(scope="session")
def gan_run(serving_root) -> Path:
    """A small conditional GAN on digits, two fast epochs (quality does not matter here)."""
    return _study(
        serving_root,
        "gan-digits",
        ["model=gan", "data=digits", "trainer=fast", "sweep.n_trials=1", "model.width=32",
         "model.conditional=true"],
    )  # fmt: skip


def write_images(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    """A folder of small PNGs, one sub-folder per class: dark squares and bright squares."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, base in (("dark", 40), ("bright", 200)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(base, 20, (10, 10)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(root / label / f"{i}.png")
    return root


@pytest.fixture(scope="session")
def images_run(serving_root) -> Path:
    """A CNN on an image folder (file paths are inputs; pixels arrive as uint8 C x H x W)."""
    data = write_images(serving_root / "pictures")
    return _study(
        serving_root,
        "cnn-images",
        ["model=cnn", "data=images", f"data.path={data}", "data.size=8", "trainer=fast",
         "sweep.n_trials=1"],
    )  # fmt: skip


def write_table(path: Path, rows: int = 240, seed: int = 0) -> Path:
    """A CSV with numeric and categorical columns and a yes/no label."""
    rng = np.random.default_rng(seed)
    colors = ["red", "green", "blue"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["size", "weight", "color", "label"])
        for _ in range(rows):
            size, weight = rng.normal(10, 3), rng.normal(50, 10)
            color = colors[rng.integers(3)]
            label = "yes" if size + (4 if color == "red" else 0) > 11 else "no"
            w.writerow([f"{size:.3f}", f"{weight:.2f}", color, label])
    return path


@pytest.fixture(scope="session")
def csv_run(serving_root) -> Path:
    """XGBoost on a CSV table with a categorical column (the `table` input form)."""
    data = write_table(serving_root / "table.csv")
    return _study(
        serving_root,
        "xgboost-table",
        [
            "model=xgboost",
            "data=csv",
            f"data.path={data}",
            "data.target=label",
            "sweep.n_trials=1",
            "model.n_estimators=30",
        ],
    )


class Server:
    """A `python -m automl serve` subprocess and an httpx client bound to it."""

    def __init__(self, run_dir: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "automl", "serve", str(run_dir), "--port", str(self.port),
             "--log-level", "warning", *extra],
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def wait_ready(self, timeout: float = 120) -> None:
        """Poll readiness until 200 (the server process must stay alive meanwhile)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.proc.communicate()[1][-3000:]}")
            try:
                if self.client.get("/v2/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("server not ready in time")

    def close(self) -> str:
        """Stop the server (SIGTERM, as a process manager would); return its stderr."""
        self.client.close()
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def start_server(run_dir: Path, *extra: str) -> Iterator[Server]:
    server = Server(run_dir, *extra)
    try:
        server.wait_ready()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def xgb_server(xgb_run) -> Iterator[Server]:
    yield from start_server(xgb_run)


def copy_export(run_dir: Path, target: Path) -> Path:
    """A copy of a run's best/ to tamper with."""
    best = target / "best"
    shutil.copytree(run_dir / "best", best)
    return best
