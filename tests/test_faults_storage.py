"""The study storage failing under a study, as a cluster user meets it: a real PostgreSQL
server stopped and started again under a running ``sweep.workers=2`` study, an outage longer
than ``sweep.storage_wait``, and an SQLite file that is damaged or is another program's."""

from __future__ import annotations

import json
import sqlite3
import time

import optuna
import pytest
from helpers import run_cli, start_cli
from optuna.trial import TrialState

from automl.tuning.storage import make_storage

# Forest trials on breast cancer: about a second each, reporting after each of 4 stages, so
# an outage lands inside trials and between them.
FOREST = ["model=forest", "sweep.live=false", "space.n_estimators=400"]


@pytest.fixture
def server():
    """A PostgreSQL server of this test's own: it is stopped and started under the study."""
    from postgres import postgres_bin, postgres_server

    bindir = postgres_bin()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    with postgres_server(bindir) as started:
        yield started


def _study(name: str, url: str | None, run_dir, storage=None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage or make_storage(url, run_dir))


def _wait(predicate, what: str, proc, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"exited {proc.returncode} before {what}:\n{out}\n{err}")
        try:
            if predicate():
                return
        except KeyError:  # the study is not created yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _in_a_trial(name: str, url: str, run_dir, after_one: bool = True):
    """Whether a trial runs (after one finished): one storage for every look, not one
    connection pool per look."""
    storage = make_storage(url, run_dir)

    def ready() -> bool:
        states = [t.state for t in _study(name, url, run_dir, storage).get_trials()]
        return TrialState.RUNNING in states and (TrialState.COMPLETE in states or not after_one)

    return ready


@pytest.mark.heavy
@pytest.mark.parametrize("outage", [5, pytest.param(40, marks=pytest.mark.slow)])
def test_two_workers_ride_out_a_database_outage(server, tmp_path, outage):
    run_dir, name = tmp_path / "run", f"outage-{outage}"
    args = [*FOREST, "sweep.workers=2", "sweep.n_trials=6", f"sweep.storage={server.url}",
            f"sweep.study_name={name}", f"hydra.run.dir={run_dir}"]  # fmt: skip
    proc = start_cli(args, tmp_path)
    _wait(_in_a_trial(name, server.url, run_dir), "a trial", proc)
    server.stop()  # as in a crash: every connection drops
    time.sleep(outage)  # the outage itself
    assert proc.poll() is None, "the parent did not ride out the outage"
    server.start()
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stdout + stderr
    assert "Traceback" not in stdout + stderr
    trials = _study(name, server.url, run_dir).get_trials()
    # Every trial counted, none RUNNING, none lost to the outage (each call waited for it).
    assert [t.state for t in trials].count(TrialState.RUNNING) == 0
    assert len(trials) == 6, [(t.number, t.state, t.user_attrs.get("error")) for t in trials]
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    rows = json.loads((run_dir / "leaderboard.json").read_text())["trials"]
    assert len(rows) == 6 and (run_dir / "best" / "model.skops").is_file()


@pytest.mark.heavy
def test_an_outage_past_storage_wait_stops_with_one_line_and_a_rerun_finishes(server, tmp_path):
    run_dir, name = tmp_path / "run", "gone"
    args = [*FOREST, "sweep.n_trials=3", "sweep.storage_wait=3",
            f"sweep.storage={server.url}", f"sweep.study_name={name}",
            f"hydra.run.dir={run_dir}", "sweep.report=true"]  # fmt: skip
    proc = start_cli(args, tmp_path)
    _wait(_in_a_trial(name, server.url, run_dir, after_one=False), "a trial", proc)
    server.stop()
    try:
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        server.start()
    assert proc.returncode == 1, stdout + stderr
    assert "Traceback" not in stdout + stderr
    (line,) = [x for x in stdout.splitlines() if x.startswith("automl: stopped:")]
    assert "the study storage postgresql://automl@127.0.0.1" in line
    assert "(sweep.storage_wait=3): OperationalError" in line
    assert "invalid data" not in stdout  # Optuna's guess is not what happened
    assert "leaderboard and best/ not written" in stdout
    assert not (run_dir / "report").exists()  # nothing to read it from
    # The storage is back: the same command re-runs the cut-off trial and finishes.
    again = run_cli(args[:-1], tmp_path)
    assert again.returncode == 0, again.stderr
    trials = _study(name, server.url, run_dir).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    counted = [t for t in trials if t.state != TrialState.FAIL or t.user_attrs.get("counts")]
    assert len(counted) == 3


def _valid_study_db(run_dir, tmp_path, name: str) -> None:
    args = ["model=forest", "sweep.live=false", "space.n_estimators=20", "sweep.n_trials=3",
            f"sweep.study_name={name}", f"hydra.run.dir={run_dir}"]  # fmt: skip
    assert run_cli(args, tmp_path).returncode == 0


@pytest.mark.heavy
def test_four_kb_overwritten_inside_a_study_db_is_one_line_and_exit_2(tmp_path):
    run_dir, name = tmp_path / "run", "damaged"
    _valid_study_db(run_dir, tmp_path, name)
    db = run_dir / "study.db"
    with sqlite3.connect(db) as conn:  # the trials' table: a page every run reads
        (page,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'trial_values'"
        ).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    with open(db, "r+b") as handle:
        handle.seek((page - 1) * size)
        handle.write(b"\x5a" * 4096)
    args = ["model=forest", "sweep.live=false", "space.n_estimators=20", "sweep.n_trials=4",
            f"sweep.study_name={name}", f"hydra.run.dir={run_dir}"]  # fmt: skip
    out = run_cli(args, tmp_path)
    assert out.returncode == 2, out.stderr + out.stdout
    (line,) = out.stderr.strip().splitlines()
    assert str(db) in line and "damaged" in line and "restore it from a backup" in line


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    db = run_dir / "study.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        conn.execute("INSERT INTO invoices (total) VALUES (12.5)")
    before = db.read_bytes()
    args = ["model=forest", "sweep.live=false", "space.n_estimators=20", "sweep.n_trials=1",
            f"hydra.run.dir={run_dir}"]  # fmt: skip
    out = run_cli(args, tmp_path)
    assert out.returncode == 2, out.stderr + out.stdout
    (line,) = out.stderr.strip().splitlines()
    assert f"{db} is an SQLite database but not a study (its tables: invoices)" in line
    assert db.read_bytes() == before  # Optuna's tables were not added to it
    assert not (run_dir / "trials").exists()


@pytest.mark.heavy
def test_a_journal_damaged_in_the_middle_is_one_line_and_exit_2(tmp_path):
    run_dir, journal = tmp_path / "run", tmp_path / "study.jsonl"
    args = ["model=forest", "sweep.live=false", "space.n_estimators=20", "sweep.n_trials=2",
            f"sweep.storage={journal}", f"hydra.run.dir={run_dir}"]  # fmt: skip
    assert run_cli(args, tmp_path).returncode == 0
    lines = journal.read_bytes().split(b"\n")
    lines[3] = lines[3][: len(lines[3]) // 2]  # not the torn tail a killed writer leaves
    journal.write_bytes(b"\n".join(lines))
    out = run_cli([*args[:3], "sweep.n_trials=3", *args[4:]], tmp_path)
    assert out.returncode == 2, out.stderr + out.stdout
    (line,) = out.stderr.strip().splitlines()
    assert f"sweep.storage={journal}: a record of the journal does not parse (line 4)" in line
    assert "Restore it from a backup" in line


def test_a_negative_storage_wait_is_one_line(tmp_path):
    out = run_cli(["model=forest", "sweep.storage_wait=-1", f"hydra.run.dir={tmp_path / 'r'}"],
                  tmp_path)  # fmt: skip
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert "sweep.storage_wait=-1.0 must be a number of seconds >= 0" in line
    assert not (tmp_path / "r").exists()
