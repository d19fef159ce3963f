"""Defects the end-to-end matrix found on the command path, each pinned by a test of its own
(``automl.__main__.main`` in this process, as the matrix runs it)."""

from __future__ import annotations

from matrix_checks import run_main


def test_a_second_study_in_one_process_does_not_log_into_the_first_ones_automl_log(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    common = ["model=linear", "data=wine", "sweep.n_trials=1", "sweep.report=false"]
    for name in ("first", "second"):
        ran = run_main([*common, f"sweep.study_name={name}", f"hydra.run.dir={tmp_path / name}"],
                       capsys)  # fmt: skip
        assert ran.rc == 0, ran.tail()
    first = (tmp_path / "first" / "automl.log").read_text()
    second = (tmp_path / "second" / "automl.log").read_text()
    assert "study first:" in first and "study second:" not in first
    assert "study second:" in second and "study first:" not in second


def test_a_value_a_typed_setting_refuses_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for arg, expected in [
        ("data.seed=abc", "data.seed=abc: data.seed takes a whole number"),
        ("data.val_fraction=lots", "data.val_fraction=lots: data.val_fraction takes a number"),
        ("sweep.live=maybe", "sweep.live=maybe: sweep.live takes true or false"),
    ]:
        ran = run_main(["model=linear", "data=wine", arg], capsys)
        assert ran.rc == 2, ran.tail()
        (line,) = ran.err.strip().splitlines()
        assert line.startswith(f"automl: error: {expected}"), line
    assert not (tmp_path / "runs").exists()


def test_plugins_names_a_misspelt_entry_point_group(tmp_path, capsys, monkeypatch):
    from helpers import install_entry_points

    site = install_entry_points(
        tmp_path / "site",
        "automl-typo",
        "0.3",
        {"automl.model": {"tcn2": "typo:PLUGIN"}, "automl_datasets": {"waves2": "typo:DATA"}},
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("COLUMNS", "300")
    ran = run_main(["plugins"], capsys)
    assert ran.rc == 0, ran.tail()
    notes = [line for line in ran.out.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: automl-typo 0.3 declares entry points in group 'automl.model' (tcn2), which "
        "automl does not read; did you mean 'automl.models'? Rename the group in the "
        "package's pyproject.toml and reinstall it",
        "note: automl-typo 0.3 declares entry points in group 'automl_datasets' (waves2), which "
        "automl does not read; did you mean 'automl.data'? Rename the group in the "
        "package's pyproject.toml and reinstall it",
    ]


def test_watch_and_report_find_a_journal_storage_beside_the_history_file(
    tmp_path, capsys, monkeypatch
):
    # A journal file in the run directory (the default with sweep.workers > 1) sits next to
    # history.jsonl, which is not a journal: `watch RUN_DIR` refused ("several journal files").
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    ran = run_main(["model=linear", "data=wine", "sweep.n_trials=2", "sweep.report=false",
                    f"sweep.storage={run_dir}/study.jsonl", f"hydra.run.dir={run_dir}"],
                   capsys)  # fmt: skip
    assert ran.rc == 0, ran.tail()
    assert sorted(p.name for p in run_dir.glob("*.jsonl")) == ["history.jsonl", "study.jsonl"]
    watched = run_main(["watch", str(run_dir), "--interval", "0.1"], capsys)
    assert watched.rc == 0, watched.tail()
    assert watched.out.strip().splitlines()[-1] == "study linear-wine holds its 2 trials"


def test_watch_on_a_run_directory_picks_its_own_study_in_a_shared_storage(
    tmp_path, capsys, monkeypatch
):
    # One database, several studies (as on a PostgreSQL server): the run directory's saved
    # config names its study; `watch RUN_DIR` asked for --study instead.
    monkeypatch.chdir(tmp_path)
    shared = f"sqlite:///{tmp_path}/shared.db"
    for name, trials in (("one", 1), ("two", 2)):
        ran = run_main(["model=linear", "data=wine", f"sweep.n_trials={trials}",
                        "sweep.report=false", f"sweep.storage={shared}",
                        f"sweep.study_name={name}", f"hydra.run.dir={tmp_path / name}"],
                       capsys)  # fmt: skip
        assert ran.rc == 0, ran.tail()
    for name, trials in (("one", 1), ("two", 2)):
        watched = run_main(["watch", str(tmp_path / name), "--interval", "0.1"], capsys)
        assert watched.rc == 0, watched.tail()
        noun = "trial" if trials == 1 else "trials"
        assert watched.out.strip().splitlines()[-1] == f"study {name} holds its {trials} {noun}"
