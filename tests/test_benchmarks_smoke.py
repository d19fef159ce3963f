"""Smoke tests of the peer benchmarks: their command lines and helpers, never a peer run.

The comparisons themselves (``benchmarks/vs_*.py``, ``benchmarks/startup.py``) create virtual
environments and train for minutes, so they are not part of the test run; these tests check
that each script starts, accepts a tiny configuration, rejects a bad one, and that the copies
the peer environments use match automl's own code.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = (
    "vs_plain_optuna",
    "vs_hydra_sweeper",
    "vs_flaml",
    "auto_vs_flaml",
    "startup",
    "workers",
    "budget",
    "threads",
    "stop_time",
)


def load(name: str, path: Path | None = None):
    """Import a benchmark script by path (benchmarks/ is not a package)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path or BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_runs(name):
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "--json" in done.stdout and "--repeats" in done.stdout


def test_tiny_configurations_parse(tmp_path):
    a = load("vs_plain_optuna").parse_args(
        ["--trials", "2", "--epochs", "2", "--repeats", "1", "--variants", "automl,optuna+torch"]
    )
    assert (a.trials, a.epochs, a.repeats, a.threads) == (2, 2, 1, 1)
    assert a.variants == ["automl", "optuna+torch"]
    h = load("vs_hydra_sweeper").parse_args(
        ["--trials", "3", "--epochs", "2", "--repeats", "1", "--target", "0.9"]
    )
    assert (h.trials, h.target, h.workers, h.explain) == (3, 0.9, 1, False)
    h2 = load("vs_hydra_sweeper").parse_args(["--workers", "2", "--explain", "--report", "r.json"])
    assert (h2.workers, h2.explain, h2.report.name) == (2, True, "r.json")
    w = load("workers").parse_args(["--trials", "4", "--trees", "10", "--repeats", "1"])
    assert (w.trials, w.trees, w.workers) == (4, 10, 2)
    f = load("vs_flaml").parse_args(
        ["--budget", "10", "--repeats", "1", "--data", "wine", "--json", str(tmp_path / "r.json")]
    )
    assert (f.budget, f.data, f.flaml_n_jobs) == (10.0, ["wine"], 1)
    assert f.variants == ["automl", "flaml-xgboost", "flaml-default"]
    s = load("startup").parse_args(["--runs", "1", "--epochs", "2", "--repeats", "1"])
    assert (s.runs, s.epochs, s.repeats) == (1, 2, 1)
    b = load("budget").parse_args(["--budgets", "30,60", "--data", "wine", "--loads", "hog"])
    assert (b.budgets, b.data, b.loads, b.sides) == (
        [30.0, 60.0],
        ["wine"],
        ["hog"],
        ["auto", "flaml"],
    )
    t = load("threads").parse_args(["--override", "sweep.n_trials=2", "--conditions", "idle"])
    assert (t.override, t.conditions) == (["sweep.n_trials=2"], ["idle"])
    assert "before" not in t.variants  # no --before interpreter given


@pytest.mark.parametrize(
    "name,argv",
    [
        ("vs_plain_optuna", ["--variants", "automl,ray"]),
        ("vs_plain_optuna", ["--trials", "0"]),
        ("vs_hydra_sweeper", ["--target", "1.5"]),
        ("vs_flaml", ["--budget", "0"]),
        ("startup", ["--runs", "0"]),
        ("budget", ["--loads", "busy"]),
        ("threads", ["--conditions", "crowded"]),
    ],
)
def test_bad_configurations_exit_2(name, argv, capsys):
    with pytest.raises(SystemExit) as exc:
        load(name).parse_args(argv)
    assert exc.value.code == 2


@pytest.mark.parametrize(
    "name,peer", [("vs_plain_optuna", "optuna-lightning"), ("vs_hydra_sweeper", "hydra-optuna")]
)
def test_env_commands_install_cpu_torch_first_without_creating(name, peer, tmp_path, capsys):
    import torch

    assert load(name).main(["--print-env-commands", "--env-root", str(tmp_path)]) == {}
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith(f"-m venv {tmp_path / peer}")
    want = f"torch=={torch.__version__.split('+')[0]}"
    assert lines[1].endswith(f"pip install -q {want}")
    assert not any(tmp_path.iterdir())  # printing never creates an environment


def test_flaml_env_pins_automls_scikit_learn(capsys, tmp_path):
    from importlib import metadata

    load("vs_flaml").main(["--print-env-commands", "--env-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert "'flaml[automl]'" in out
    assert f"scikit-learn=={metadata.version('scikit-learn')}" in out


def test_time_to_reach_counts_completed_trials_only():
    ttr = load("vs_hydra_sweeper").time_to_reach
    trials = [
        {"state": "PRUNED", "value": 0.99, "complete": 105.0},
        {"state": "COMPLETE", "value": 0.90, "complete": 110.0},
        {"state": "COMPLETE", "value": 0.95, "complete": 120.0},
        {"state": "COMPLETE", "value": 0.97, "complete": 130.0},
    ]
    assert ttr(trials, 100.0, 0.95) == pytest.approx(20.0)
    assert ttr(trials, 100.0, 0.98) is None


def test_summary_and_format():
    c = load("_common")
    stat = c.summary([3.0, None, 1.0, 2.0])
    assert stat == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert c.fmt(stat, 1) == "2.0 [1.0-3.0]"
    assert c.fmt(c.summary([None]), 1) == "-"


@pytest.mark.parametrize(
    "overrides",
    [{}, {"depth": 3, "channels": 16, "kernel_size": 5, "batch_norm": False}, {"depth": 1}],
)
def test_peer_network_copy_matches_the_cnn_plugin(overrides):
    """The peer environments train exactly the network automl's CNN plugin builds."""
    from automl_plugins.cnn import CNNConfig
    from automl_plugins.cnn_model import make_net

    from automl.core.plugin import DataSpec

    cnn_net = load("cnn_net", BENCH / "peers" / "cnn_net.py")
    spec = DataSpec(name="digits", task="classification", input_shape=(1, 8, 8), n_classes=10)
    ours = make_net(CNNConfig(**overrides), spec)
    theirs = cnn_net.make_net({**cnn_net.DEFAULTS, **overrides}, (1, 8, 8), 10)
    assert str(ours) == str(theirs)


def test_peer_space_matches_the_cnn_plugin():
    from automl_plugins.cnn import PLUGIN, CNNConfig

    from automl.core.space import Choice, Float, Int

    cnn_net = load("cnn_net", BENCH / "peers" / "cnn_net.py")
    assert list(cnn_net.SPACE) == list(PLUGIN.search_space)  # same order: same TPE draws
    for name, param in PLUGIN.search_space.items():
        got = cnn_net.SPACE[name]
        if isinstance(param, Choice):
            assert got == ("choice", list(param.options))
        elif isinstance(param, Int):
            assert got == ("int", param.low, param.high)
        else:
            assert isinstance(param, Float)
            assert got == ("float", param.low, param.high, param.log)
    assert cnn_net.DEFAULTS == CNNConfig().__dict__


def test_plain_optuna_summary_ratios_and_study_time(capsys):
    summarize = load("vs_plain_optuna").summarize

    def run(variant, rep, wall, start, end):
        trials = [
            {"state": "COMPLETE", "start": start, "complete": start + 1.0, "epochs": 3},
            {"state": "PRUNED", "start": start + 1.0, "complete": end, "epochs": 4},
        ]
        return {"variant": variant, "repeat": rep, "wall_s": wall, "trials": trials}

    runs = [run("automl", 0, 10.0, 100.0, 106.0), run("optuna+torch", 0, 5.0, 200.0, 204.0)]
    for r in runs:
        r.update(n_pruned=1, epochs=7, best_value=0.9, test_acc=0.8)
    table, text = summarize(runs, ["automl", "optuna+torch"], 2, 4, 1)
    assert table["optuna+torch"]["wall_vs_automl"]["median"] == pytest.approx(0.5)
    assert table["automl"]["study_s"]["median"] == pytest.approx(6.0)
    assert "| optuna+torch | 5.0 | 4.0 | 0.50 |" in text


@pytest.mark.heavy
def test_forest_ceiling_scores_every_grid_config(monkeypatch):
    ceiling = load("forest_ceiling")
    tiny = {**ceiling.GRID, "max_features": [0.5], "min_samples_leaf": [1, 8], "max_depth": [4]}
    monkeypatch.setattr(ceiling, "GRID", tiny)
    row = ceiling.split_ceiling(seed=1, target=0.96, n_jobs=1)
    assert row["configs"] == 2 * 1 * 2 * 1 * 2  # algorithms x features x leaf x depth x criterion
    assert 0.8 < row["median"] <= row["max"] <= 1.0
    assert 0.0 <= row["share_at_target"] <= 1.0 and row["logistic_regression"] > 0.9


def test_storage_benchmark_times_reports_in_a_real_storage(tmp_path):
    bench = load("storage")
    from automl.tuning.storage import make_storage

    memory = bench.report_cost(None, steps=3, trials=2)
    journal = bench.report_cost(make_storage(str(tmp_path / "s.jsonl"), tmp_path), 3, 2)
    assert 0 < memory < 0.1 and 0 < journal < 1.0


def test_sampler_benchmark_arguments(tmp_path):
    bench = load("samplers")
    a = bench.parse_args(
        [
            "--recipes",
            "forest_breast_cancer",
            "--samplers",
            "tpe,random",
            "--seeds",
            "2",
            "--trials",
            "3",
            "--jobs",
            "2",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert (a.recipes, a.samplers, a.seeds, a.trials, a.jobs) == (
        ["forest_breast_cancer"],
        ["tpe", "random"],
        2,
        3,
        2,
    )
    cmd = bench.command("forest_breast_cancer", "gp", 4, 3, tmp_path / "run", [])
    assert cmd[3:8] == [
        "+recipe=forest_breast_cancer",
        "sweep.sampler=gp",
        "sweep.seed=4",
        "sweep.n_trials=3",
        "sweep.live=false",
    ]
    for bad in (["--recipes", "nope"], ["--seeds", "0"], ["--samplers", "tpe,gp"]):
        with pytest.raises(SystemExit) as exc:
            bench.parse_args(bad)
        assert exc.value.code == 2


def test_auto_vs_flaml_variants_fix_their_protocol(tmp_path):
    m = load("auto_vs_flaml")
    a = m.parse_args(["--budget", "30", "--variants", "auto-folds,flaml", "--data", "wine"])
    assert (a.budget, a.variants, a.data) == (30.0, ["auto-folds", "flaml"], ["wine"])
    assert m.parse_args([]).variants == ["auto", "flaml"]
    # Every automl variant names the folds it runs with, except `auto` (model=auto's default).
    assert set(m.VARIANT_OVERRIDES) == set(m.VARIANTS) - set(m.PEERS)
    assert m.VARIANT_OVERRIDES["auto-holdout"] == ["data.folds=0"]
    assert m.VARIANT_OVERRIDES["auto-folds"] == ["data.folds=5"]
    for bad in (["--variants", "auto,nope"], ["--variants", "flaml,autogluon"]):
        with pytest.raises(SystemExit) as exc:  # no peer to pair automl with, or no automl
            m.parse_args(bad)
        assert exc.value.code == 2
    assert m.parse_args(["--variants", "flaml", "--schedule", "sequential"]).variants == ["flaml"]


def test_auto_vs_flaml_pairs_automl_with_each_peer_and_matches_walls():
    m = load("auto_vs_flaml")
    args = m.parse_args(["--variants", "auto,flaml,autogluon"])
    first, second = m._schedule(args, 0), m._schedule(args, 1)
    assert first == [[("auto", "-with-flaml"), ("flaml", "")],
                     [("auto", "-with-autogluon"), ("autogluon", "")]]  # fmt: skip
    assert second == first[::-1]  # the pairs' order rotates per repeat
    seq = m.parse_args(["--variants", "auto,flaml", "--schedule", "sequential"])
    assert m._schedule(seq, 1) == [[("flaml", "")], [("auto", "")]]
    # A peer's reserve: the first one given, then the median of what would have hit the budget.
    assert m._reserve([], 1.0, 30.0) == 1.0
    assert m._reserve([2.0, 3.0, 10.0], 1.0, 30.0) == 3.0
    assert m._reserve([-1.0], 1.0, 30.0) == 0.0 and m._reserve([40.0], 1.0, 30.0) == 15.0


def test_the_load_test_starts_and_its_fake_trials_are_a_plugin():
    done = subprocess.run(
        [sys.executable, str(BENCH / "scale_load.py"), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and "--code NAME=DIR" in done.stdout, done.stderr
    import os

    env = {**os.environ, "PYTHONPATH": str(BENCH / "scale_plugin")}
    plugins = subprocess.run(
        [sys.executable, "-m", "automl", "plugins"], capture_output=True, text=True, env=env
    )
    assert plugins.returncode == 0 and "sleepy" in plugins.stdout, plugins.stderr


def test_wide_inputs_writes_its_files_and_rejects_bad_sizes(tmp_path):
    wide = load("wide_inputs")
    args = wide.parse_args(["--columns", "5", "--header-mb", "1", "--work", str(tmp_path)])
    files = wide.write_files(args.work, args.columns, args.header_mb)
    assert files["wide"].read_text().splitlines()[0] == "c0,c1,c2,c3,c4,y"
    assert files["long_header"].stat().st_size == 2**20 + 3  # the header, "\n1\n"
    assert len(files["narrow"].read_text().splitlines()) == 201
    with pytest.raises(SystemExit):
        wide.parse_args(["--columns", "1"])


def test_autogluon_env_installs_cpu_torch_before_autogluon(capsys, tmp_path):
    import torch

    m = load("auto_vs_flaml")
    argv = ["--variants", "auto,autogluon", "--print-env-commands", "--env-root", str(tmp_path)]
    assert m.main(argv) == {}
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith(f"-m venv {tmp_path / 'autogluon'}")
    assert lines[1].endswith(f"pip install -q torch=={torch.__version__.split('+')[0]}")
    assert "autogluon.tabular[lightgbm,catboost,xgboost]==" in lines[2]
    assert not any(tmp_path.iterdir())


def test_hydra_sweeper_runs_can_come_from_a_results_file(tmp_path):
    import json

    m = load("vs_hydra_sweeper")
    stored = {"settings": {"trials": 20, "epochs": 30, "workers": 1},
              "runs": [{"repeat": r, "variant": v, "best_value": 0.99}
                       for r in range(2) for v in ("automl", "hydra-optuna-sweeper")]}  # fmt: skip
    path = tmp_path / "r.json"
    path.write_text(json.dumps(stored))
    argv = ["--trials", "20", "--epochs", "30", "--sweeper-from", str(path)]
    runs = m._stored_sweeper_runs(m.parse_args([*argv, "--repeats", "2"]))
    assert sorted(runs) == [0, 1] and runs[1]["variant"] == "hydra-optuna-sweeper"
    for bad in (["--repeats", "3"], ["--repeats", "1", "--workers", "2"]):
        with pytest.raises(SystemExit, match="pass the same"):
            m._stored_sweeper_runs(m.parse_args([*argv, *bad]))
    assert m.parse_args(["--automl-args", "sweep.enqueue_defaults=false"]).automl_args


def test_auto_vs_flaml_summary_counts_a_run_without_a_model_as_a_loss(tmp_path):
    import json

    def run(variant, rep, acc, with_=None):
        return {"variant": variant, "repeat": rep, "data": "wine", "paired_with": with_,
                "test_acc": acc, "n_trials": 3, "wall_s": 30.0, "cpu_s": 29.0,
                "load_start": [2.0, 0, 0], "load_end": [3.0, 0, 0]}  # fmt: skip

    runs = [run("auto", 0, 1.0, "flaml"), run("flaml", 0, 0.97),
            run("auto", 1, None, "flaml"), run("flaml", 1, 0.97),
            run("auto", 2, 0.9649122953414917, "flaml"),  # float32 and float64 of 110/114
            run("flaml", 2, 0.9649122807017544)]  # fmt: skip
    settings = {"budget_s": 30.0, "repeats": 3, "variants": ["auto", "flaml"], "schedule": "paired",
                "data": {"wine": {"task": "classification", "test": 36}}}  # fmt: skip
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"settings": settings, "runs": runs}))
    summary = load("auto_vs_flaml").main(["--resummarize", str(path)])["summary"]
    assert summary["wine/auto/with-flaml"]["vs_peer"] == {"wins": 1, "ties": 1, "losses": 1}
    assert summary["wine/auto/with-flaml"]["test"]["n"] == 2  # the median skips the miss
    assert "| 1 | 1/1/1 |" in json.loads(path.read_text())["table_markdown"]
