"""GPU verification: run on a machine with an NVIDIA GPU; writes its figures to a JSON file.

Checks, each with the evidence it read:

1. ``trainer.accelerator=auto`` trains on CUDA: a one-trial CNN study's ``leaderboard.json``
   names ``cuda:0`` as its device.
2. XGBoost uses ``device=cuda``: the XGBoost plugin resolves ``device=auto`` to ``cuda``, a
   booster trained with it says ``cuda`` in its saved configuration, and a one-trial
   ``model=xgboost`` study completes.
3. ``sweep.workers=2 sweep.trials_per_gpu=2`` packs trials on one GPU: both workers' logs say
   ``devices=0`` (their ``CUDA_VISIBLE_DEVICES``), ``nvidia-smi`` sampled during the study shows
   both worker processes on the GPU at the same time, and the study ends with 4 trials.
4. Samples per second of one trial (``automl.study.train.fit`` on the GPU, Lightning) against a
   plain PyTorch loop on the GPU training the same CNN on the same data for the same epochs.

Without a GPU it stops at once: one line, exit code 2. ``benchmarks/gpu_check.sh`` runs it.

    python benchmarks/gpu_check.py --json benchmarks/results/gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", type=Path, default=REPO / "benchmarks/results/gpu_check.json")
    p.add_argument("--epochs", type=int, default=10, help="epochs of the samples/s comparison")
    return p.parse_args(argv)


def no_gpu_reason() -> str | None:
    """Why this machine cannot run the check, or ``None``."""
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi not found: no NVIDIA driver on this machine"
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    if listed.returncode != 0 or "GPU " not in listed.stdout:
        return "nvidia-smi -L lists no GPU"
    import torch

    if not torch.cuda.is_available():
        return (
            f"torch {torch.__version__} cannot use CUDA (a CPU build?): TORCH_SPEC=torch "
            "bash scripts/setup installs a CUDA build"
        )
    return None


def automl(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "automl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_lightning_on_cuda(work: Path) -> dict[str, Any]:
    run = work / "cnn"
    out = automl(["model=cnn", "sweep.n_trials=1", "trainer.max_epochs=2",
                  "sweep.live=false", f"hydra.run.dir={run}"], work)  # fmt: skip
    board = json.loads((run / "leaderboard.json").read_text()) if run.exists() else {}
    device = board.get("device")
    return {"ok": out.returncode == 0 and str(device).startswith("cuda"), "device": device,
            "returncode": out.returncode}  # fmt: skip


def check_xgboost_on_cuda(work: Path) -> dict[str, Any]:
    import numpy as np
    import xgboost as xgb
    from automl_plugins.xgboost_model import resolve_device

    resolved = resolve_device("auto")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(512, 8)), rng.integers(0, 2, 512)
    model = xgb.XGBClassifier(n_estimators=5, device=resolved).fit(x, y)
    config = json.loads(model.get_booster().save_config())
    booster_device = config["learner"]["generic_param"].get("device")
    run = work / "xgb"
    out = automl(["model=xgboost", "sweep.n_trials=1", "sweep.live=false",
                  f"hydra.run.dir={run}"], work)  # fmt: skip
    return {
        "ok": resolved == "cuda" and str(booster_device).startswith("cuda") and out.returncode == 0,
        "resolved": resolved,
        "booster_device": booster_device,
        "study_returncode": out.returncode,
    }


def gpu_processes() -> set[int]:
    out = subprocess.run(
        ["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    return {int(x) for x in out.stdout.split() if x.strip().isdigit()}


def check_packing(work: Path) -> dict[str, Any]:
    run = work / "packed"
    samples: list[set[int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(gpu_processes())
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    args = ["model=cnn", "sweep.workers=2", "sweep.trials_per_gpu=2", "sweep.n_trials=4",
            "trainer.max_epochs=8", "sweep.live=false", f"hydra.run.dir={run}"]  # fmt: skip
    out = automl(args, work)
    stop.set()
    sampler.join()
    logs = sorted((run / "workers").glob("worker-*.log")) if run.exists() else []
    devices = [
        line.split("devices=", 1)[1].strip()
        for log in logs
        for line in log.read_text().splitlines()
        if line.startswith("==") and "devices=" in line
    ]
    board = json.loads((run / "leaderboard.json").read_text()) if run.exists() else {}
    most = max((len(s) for s in samples), default=0)
    return {
        "ok": out.returncode == 0
        and devices[:2] == ["0", "0"]
        and most >= 2
        and len(board.get("trials", [])) == 4,
        "worker_devices": devices,
        "most_processes_on_gpu_at_once": most,
        "trials": len(board.get("trials", [])),
        "returncode": out.returncode,
        "stderr_tail": out.stderr[-2000:],
    }


def samples_per_second(epochs: int) -> dict[str, Any]:
    import torch
    from automl_plugins.cnn_model import make_net
    from torch import nn

    from automl.core.registry import discover_data, discover_models
    from automl.data import load_dataset
    from automl.study import train
    from automl.study.config import TrainerConfig

    plugin = discover_models().get("cnn")
    data_plugin = discover_data().get("digits")
    dataset = load_dataset(data_plugin, data_plugin.config())
    cfg = plugin.config()
    n = len(dataset.train) * epochs

    def plain() -> float:
        torch.manual_seed(0)
        net = make_net(cfg, dataset.spec).cuda()
        opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        loss_fn = nn.CrossEntropyLoss()
        x = torch.as_tensor(dataset.train.x).cuda()
        y = torch.as_tensor(dataset.train.y).cuda()
        xv, yv = torch.as_tensor(dataset.val.x).cuda(), torch.as_tensor(dataset.val.y).cuda()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(epochs):
            net.train()
            order = torch.randperm(len(y), device="cuda")
            for i in range(0, len(y), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                opt.zero_grad()
                loss_fn(net(x[idx]), y[idx]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                (net(xv).argmax(1) == yv).float().mean().item()
        torch.cuda.synchronize()
        return time.perf_counter() - start

    def trial() -> float:
        start = time.perf_counter()
        train.fit(plugin, cfg, dataset, TrainerConfig(max_epochs=epochs), seed=0)
        return time.perf_counter() - start

    plain(), trial()  # warm-up: CUDA context, kernels, Lightning's first Trainer
    times = {"plain": min(plain() for _ in range(3)), "automl": min(trial() for _ in range(3))}
    return {
        "epochs": epochs,
        "samples": n,
        "plain_samples_per_s": n / times["plain"],
        "automl_samples_per_s": n / times["automl"],
        "automl_over_plain_time": times["automl"] / times["plain"],
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    why = no_gpu_reason()
    if why:
        print(f"gpu_check: no GPU to check: {why}; nothing was measured", file=sys.stderr)
        return 2
    import torch

    result: dict[str, Any] = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result["lightning_auto_uses_cuda"] = check_lightning_on_cuda(work)
        result["xgboost_uses_cuda"] = check_xgboost_on_cuda(work)
        result["two_workers_packed_on_one_gpu"] = check_packing(work)
    result["samples_per_second"] = samples_per_second(args.epochs)
    checks = ("lightning_auto_uses_cuda", "xgboost_uses_cuda", "two_workers_packed_on_one_gpu")
    result["ok"] = all(result[k]["ok"] for k in checks)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(f"results written to {args.json}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
