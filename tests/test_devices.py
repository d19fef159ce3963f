"""GPU assignment, out-of-memory recognition and the worker command, without a GPU: the pure
parts of ``automl.parallel``, and an out-of-memory trial in a single process (it counts)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import optuna
import pytest
import torch
from helpers import compose, entry_point, make_dist
from rich.console import Console

from automl.core.errors import UserError
from automl.core.registry import MODEL_GROUP, discover_data, discover_models
from automl.parallel import assign_devices, is_out_of_memory, make_pool
from automl.parallel import devices as devices_module
from automl.parallel.command import worker_argv
from automl.parallel.supervisor import timeout_grace
from automl.study.plan import make_plan
from automl.tuning import run_study


@pytest.mark.parametrize("workers, gpus, per_trial, per_gpu, expected", [
    (2, 0, 1, 1, [None, None]),               # CPU only: every worker, no pinning
    (3, 0, 1, 4, [None, None, None]),
    (2, 1, 1, 2, ["0", "0"]),                 # two trials packed on one GPU
    (4, 1, 1, 2, ["0", "0"]),                 # no more workers than slots
    (2, 2, 1, 2, ["0", "1"]),                 # spread before packing
    (4, 2, 1, 2, ["0", "1", "0", "1"]),
    (3, 4, 2, 1, ["0,1", "2,3"]),             # two GPUs per trial
    (2, 3, 2, 1, ["0,1"]),                    # the third GPU cannot hold a trial alone
    (4, 2, 2, 2, ["0,1", "0,1"]),
    (2, 2, 0, 1, [None, None]),               # gpus_per_trial=0: pin nothing
    (3, ["2", "5"], 1, 1, ["2", "5"]),        # ids from CUDA_VISIBLE_DEVICES
])  # fmt: skip
def test_assign_devices(workers, gpus, per_trial, per_gpu, expected):
    assert assign_devices(workers, gpus, per_trial, per_gpu) == expected


def test_more_gpus_per_trial_than_the_machine_has_is_one_line():
    with pytest.raises(UserError, match=r"sweep.gpus_per_trial=3 but this machine has 2 GPU"):
        assign_devices(1, 2, 3, 1)


def test_a_pool_backs_off_one_worker_at_a_time_never_below_one():
    pool = make_pool(4, ["0", "1"], 1, 2)
    assert pool.capacity == 4 and pool.shared(0)
    taken = [pool.acquire() for _ in range(4)]
    assert taken == [0, 1, 0, 1] and pool.acquire() is None
    assert pool.shrink(0) and pool.groups[0].capacity == 1 and not pool.shared(0)
    assert not pool.shrink(0)  # one trial per GPU is the floor
    pool.release(0)
    pool.release(0)
    assert pool.free() == 1  # GPU 0 holds one worker now, GPU 1 is full
    assert pool.acquire() == 0 and pool.acquire() is None


def test_visible_gpus_follows_the_driver_and_cuda_visible_devices(monkeypatch):
    monkeypatch.setattr(devices_module, "driver_gpu_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,7")
    assert devices_module.visible_gpus() == ["3", "7"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert devices_module.visible_gpus() == ["0", "1"]
    monkeypatch.setattr(devices_module, "driver_gpu_count", lambda: 0)
    assert devices_module.visible_gpus() == []


def test_gpus_are_counted_without_importing_torch_and_agree_with_torch():
    code = (
        "import sys; from automl.parallel import visible_gpus; gpus = visible_gpus(); "
        "assert 'torch' not in sys.modules, 'torch imported'; print(len(gpus))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # The driver's count is what torch sees in this process (0 on a machine without a GPU).
    assert int(out.stdout) == torch.cuda.device_count()


def test_out_of_memory_errors_are_recognised():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to ..."))

    class XGBoostError(Exception):
        pass

    assert is_out_of_memory(XGBoostError("cudaErrorMemoryAllocation: out of memory"))
    try:
        try:
            raise torch.cuda.OutOfMemoryError("x")
        except Exception as exc:
            raise RuntimeError("fit failed") from exc
    except RuntimeError as chained:
        assert is_out_of_memory(chained)
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(MemoryError())  # the host's memory: not a GPU slot's


def test_a_worker_gets_the_users_command_with_the_run_dir_and_storage_pinned():
    argv = ["model=cnn", "hydra.run.dir=rel", "+sweep.storage=a.db", "--config-dir", "d"]
    out = worker_argv(argv, {"hydra.run.dir": "/abs/run", "sweep.storage": "/abs/s.jsonl"})
    assert out == ["model=cnn", "--config-dir", "d", "hydra.run.dir=/abs/run",
                   "sweep.storage=/abs/s.jsonl"]  # fmt: skip


def test_the_hard_timeout_leaves_the_alarm_time_first():
    assert timeout_grace(2) == 5.0 and timeout_grace(600) == 60.0


@pytest.mark.parametrize("setting, message", [
    ("sweep.workers=0", "sweep.workers=0 must be >= 1"),
    ("sweep.trials_per_gpu=0", "sweep.trials_per_gpu=0 must be >= 1"),
])  # fmt: skip
def test_bad_scale_settings_are_one_line(setting, message):
    models, datasets = discover_models(), discover_data()
    cfg = compose(["model=forest", "data=wine", setting], models, datasets)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_plan(cfg, "forest", "wine", models, datasets, "unused")


@pytest.mark.parametrize("setting, message", [
    ("sweep.launcher=k8s", "sweep.launcher='k8s' is not one of local, slurm"),
    ("sweep.slurm.executor=debug", "sweep.slurm.executor='debug' is not one of slurm, local"),
])  # fmt: skip
def test_launcher_choices_are_checked_when_the_config_is_composed(setting, message):
    from automl.cli.argv import check_overrides

    compose(["model=forest"])  # registers the plugins' configs, as the command line does
    with pytest.raises(UserError, match=message):
        check_overrides(["model=forest", "data=wine", setting])


def test_out_of_memory_with_the_gpu_to_itself_counts(tmp_path):
    dist = make_dist(tmp_path / "site", "scale_fakes", "0.1")
    eps = list(entry_points(group=MODEL_GROUP)) + [
        entry_point("oom", "fake_scale:OOM", MODEL_GROUP, dist)
    ]
    models, datasets = discover_models(eps), discover_data()
    cfg = compose(["model=oom", "data=wine", "model.oom_always=true", "sweep.n_trials=1",
                   "sweep.study_name=oom-alone", "sweep.live=false"], models, datasets)  # fmt: skip
    plan = make_plan(cfg, "oom", "wine", models, datasets, tmp_path / "run")
    outcome = run_study(plan, Console(file=open("/dev/null", "w")))
    assert outcome.exit_code == 1  # it ran no trial that completed
    storage = f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    (trial,) = optuna.load_study(study_name="oom-alone", storage=storage).get_trials()
    assert trial.user_attrs["failure"] == "oom" and trial.user_attrs["counts"] is True
    assert trial.user_attrs["error"].startswith("out of GPU memory (OutOfMemoryError: CUDA out")
