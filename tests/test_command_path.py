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
