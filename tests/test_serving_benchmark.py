"""benchmarks/serving.py: its command line, and (slow) a tiny real run that stops by itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "serving.py"


def load():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_serving", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_command_line_parses_and_rejects_bad_values():
    bench = load()
    a = bench.parse_args(["--models", "xgboost", "--requests", "20", "--rounds", "1"])
    assert (a.models, a.requests, a.rounds, a.clients, a.threads) == (["xgboost"], 20, 1, 64, 1)
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", "svm"])
    done = subprocess.run([sys.executable, str(BENCH), "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--max-seconds" in done.stdout


@pytest.mark.slow
def test_a_tiny_run_measures_every_server(tmp_path):
    out = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, str(BENCH), "--models", "xgboost", "--requests", "20",
         "--requests-64", "100", "--clients", "8", "--rounds", "1", "--warmup", "5",
         "--work", str(tmp_path / "work"), "--json", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())["models"]["xgboost"]
    for kind in ("bare", "automl", "automl-nobatch"):
        assert result[kind]["1"]["requests"] == 20 and result[kind]["8"]["requests"] == 100
    assert result["ratios"]["throughput_many_clients_vs_bare"] > 0
