"""A study's identity under the faults clusters meet: two jobs with different settings racing
to create one new study (SLURM array jobs start so), and ``sweep.resume=force`` after a change
Optuna cannot store in one study (a parameter's scale)."""

from __future__ import annotations

import time

import optuna
import pytest
from helpers import run_cli, start_cli
from optuna.trial import TrialState

from automl.tuning.storage import make_storage

FAST = ["model=forest", "sweep.live=false", "space.n_estimators=20"]


def _study(name: str, run_dir) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=make_storage(None, run_dir))


def _waiting(url: str) -> int:
    """How many sessions of the PostgreSQL server wait for a lock."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()
            )
    finally:
        engine.dispose()


@pytest.mark.heavy
def test_two_jobs_racing_to_create_a_study_with_other_settings_never_share_it(
    tmp_path, postgres_url
):
    """Two array jobs of one study name on one database, one with another split seed, reach
    the new study at the same moment: one runs it, the other is refused; never both."""
    from sqlalchemy import text

    run_dir, name = tmp_path / "run", f"race-{time.monotonic_ns()}"
    # Another job holds the studies' table for a moment: both jobs reach it and wait, then go
    # on together (array jobs start at once; this makes "at once" certain, not likely).
    storage = make_storage(postgres_url, tmp_path)
    gate = storage.engine.connect()
    gate.execute(text("LOCK TABLE studies IN ACCESS EXCLUSIVE MODE"))
    common = [*FAST, "sweep.n_trials=2", f"sweep.storage={postgres_url}",
              f"sweep.study_name={name}", f"hydra.run.dir={run_dir}"]  # fmt: skip
    jobs = [start_cli([*common, *extra], tmp_path) for extra in ([], ["data.seed=1"])]
    try:
        deadline = time.monotonic() + 600
        while _waiting(postgres_url) < len(jobs):
            assert time.monotonic() < deadline, "the jobs never reached the storage"
            assert all(job.poll() is None for job in jobs), [job.communicate() for job in jobs]
            time.sleep(0.1)
    finally:
        gate.commit()
        gate.close()
    done = [job.communicate(timeout=300) for job in jobs]
    codes = sorted(job.returncode for job in jobs)
    assert codes == [0, 2], done
    (refused,) = [err for job, (_, err) in zip(jobs, done, strict=True) if job.returncode == 2]
    assert "was run with other settings" in refused and "data.seed: " in refused
    (winner,) = [i for i, job in enumerate(jobs) if job.returncode == 0]
    study = optuna.load_study(study_name=name, storage=storage)
    assert study.user_attrs["fingerprint"]["data_config"]["seed"] == winner  # 0, or 1
    trials = study.get_trials()
    assert len(trials) == 2 and all(t.state == TrialState.COMPLETE for t in trials)


@pytest.mark.heavy
def test_resume_force_after_a_scale_change_is_one_line_and_changes_nothing(tmp_path):
    run_dir, name = tmp_path / "run", "scale"
    common = [*FAST, f"sweep.study_name={name}", f"hydra.run.dir={run_dir}"]
    assert run_cli([*common, "sweep.n_trials=1"], tmp_path).returncode == 0
    before = _study(name, run_dir).user_attrs["fingerprint"]
    # The refusal of the change says what force cannot do, instead of recommending it.
    changed = [*common, "sweep.n_trials=2", "+space.max_features.log=true"]
    out = run_cli(changed, tmp_path)
    assert out.returncode == 2
    assert "space.max_features: float -> float log" in out.stderr
    assert "sweep.resume=force cannot continue it" in out.stderr
    out = run_cli([*changed, "sweep.resume=force"], tmp_path)
    assert out.returncode == 2, out.stderr + out.stdout
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"automl: error: sweep.resume=force cannot continue study '{name}'")
    assert "space.max_features was a float on a linear scale and is now a float on a log" in line
    study = _study(name, run_dir)
    assert study.user_attrs["fingerprint"] == before  # not rewritten by the refused run
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]  # nothing RUNNING
    # A change Optuna can store is still forced as before: tests/test_resume.py
    # (test_a_moved_range_is_allowed_with_a_note_and_force_continues).
