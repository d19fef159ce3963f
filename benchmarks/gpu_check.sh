#!/usr/bin/env bash
# GPU verification (benchmarks/gpu_check.py): CUDA training, XGBoost on CUDA, two workers packed
# on one GPU, samples/s against a plain loop. Exit 0: every check passed; 1: a check failed;
# 2: no GPU here (one line on stderr, nothing measured).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
exec "$PY" benchmarks/gpu_check.py "$@"
