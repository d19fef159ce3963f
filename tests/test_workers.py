"""Several workers on one study: every configuration distinct, the total exact, nothing left
RUNNING (real processes on a journal file, on a real PostgreSQL server, and on the same server
through a real ``automl storage-proxy``)."""

from __future__ import annotations

import json
import time

import optuna
import pytest
from helpers import start_cli
from optuna.trial import TrialState

from automl.tuning.storage import make_storage

# Small forests: a trial takes a fraction of a second, so four workers contend all the time.
FOREST = ["model=forest", "sweep.live=false", "space.n_estimators=10"]


# Through the proxy it is slow: the two-process resume and the parent's tests
# (tests/test_storage.py, tests/test_grpc_storage.py) cover it by default.
@pytest.fixture(params=["journal", "postgres", pytest.param("grpc", marks=pytest.mark.slow)])
def storage(request, tmp_path):
    if request.param in ("postgres", "grpc"):
        return request.getfixturevalue(f"{request.param}_url")
    return str(tmp_path / "shared" / "study.jsonl")


@pytest.mark.heavy
def test_four_workers_run_exactly_the_total_with_distinct_configurations(storage, tmp_path):
    name = f"four-{time.monotonic_ns()}"
    common = [*FOREST, f"sweep.storage={storage}", f"sweep.study_name={name}", "sweep.n_trials=100"]
    workers = [
        start_cli([*common, f"hydra.run.dir={tmp_path / f'node-{i}'}"], tmp_path) for i in range(4)
    ]
    for proc in workers:
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
    study = optuna.load_study(study_name=name, storage=make_storage(storage, tmp_path))
    trials = study.get_trials()
    assert len(trials) == 100
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 100
    ran = [len(list((tmp_path / f"node-{i}" / "trials").iterdir())) for i in range(4)]
    assert sum(ran) == 100 and min(ran) > 0, ran
    # How often the duplicate check had to draw again (a continuous parameter: never, so far).
    redrawn = sum(t.user_attrs.get("redrawn", 0) for t in trials)
    print(f"duplicate draws rejected in 100 trials of 4 workers: {redrawn}")
    assert not any(
        "repeats an earlier configuration" in t.user_attrs.get("note", "") for t in trials
    )


def test_every_storage_kind_gets_a_real_admission_lock(tmp_path, postgres_url, grpc_url):
    from contextlib import nullcontext

    from automl.tuning.admission import admission

    for url in (None, str(tmp_path / "j.jsonl"), postgres_url, grpc_url):
        storage = make_storage(url, tmp_path)
        lock = admission(storage, "s")
        assert not isinstance(lock, nullcontext), url
        with lock:
            pass
