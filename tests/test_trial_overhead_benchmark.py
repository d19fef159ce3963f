"""benchmarks/trial_overhead.py: its command line, and a one-epoch run of every automl variant
through the current API (the script went stale once when the API moved under it)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "trial_overhead.py"


def load():
    spec = importlib.util.spec_from_file_location("bench_trial_overhead", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_command_line_selects_variants_and_rejects_unknown_ones(capsys):
    bench = load()
    args = bench.parse_args(["--variants", "automl_study,automl", "--threads", "1"])
    assert args.variants == ["plain", "automl", "automl_study"]  # plain always, fixed order
    assert (args.threads, args.repeats, args.pruner) == (1, 7, "none")
    assert bench.parse_args(["--skip-study", "--skip-defaults"]).variants == [
        "plain",
        "automl",
        "automl_files",
        "fabric",
    ]
    with pytest.raises(SystemExit):
        bench.parse_args(["--variants", "automl,keras"])
    assert "unknown keras" in capsys.readouterr().err


def test_one_epoch_of_every_automl_variant_runs_and_agrees_with_the_plain_loop(tmp_path):
    bench = load()
    out = tmp_path / "r.json"
    result = bench.main(
        ["--epochs", "1", "--repeats", "1", "--threads", "1", "--skip-defaults",
         "--json", str(out)]
    )  # fmt: skip
    assert json.loads(out.read_text())["ratio_vs_plain"] == result["ratio_vs_plain"]
    assert set(result["median_s"]) == {"plain", "automl", "automl_files", "automl_study", "fabric"}
    accs = result["best_val_acc"]
    # One seed, one trajectory: the hand loop, train.fit and the study's trial agree exactly.
    assert accs["automl"] == accs["automl_files"] == accs["automl_study"] == accs["fabric"]
    assert accs["plain"] == pytest.approx(accs["automl"], abs=1e-6)
    assert all(v > 0 for v in result["median_s"].values())
