"""The end-to-end matrix: every sampler, pruner, built-in model family, data plugin, storage,
worker count and launcher, through ``python -m automl``'s own path, and ``serve``,
``predict``, ``report`` and ``watch`` on the results.

The cases, and how they were chosen from the cross product, are in ``matrix_cases.py``; what
is checked after each, in ``matrix_checks.py``. The cases in ``matrix_cases.SLICE`` run in the
default tier; the rest are marked ``matrix`` and run in ``.ci/run`` (``-m matrix``).
"""

from __future__ import annotations

from itertools import product

import pytest
from matrix_cases import (
    AXES,
    OBJECTIVE_KINDS,
    REFUSED,
    SLICE,
    TINY,
    Case,
    builtin_families,
    cases,
    data_plugins,
)
from matrix_checks import check_case, fill, install_fakes, make_data_files, run_main

from automl.study.search import SAMPLERS

CASES = cases()


def _param(case: Case):
    marks = [] if case.id in SLICE else [pytest.mark.matrix]
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="session")
def matrix_files(tmp_path_factory):
    return make_data_files(tmp_path_factory.mktemp("matrix-data"))


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case, tmp_path, capsys, monkeypatch, request, matrix_files):
    monkeypatch.chdir(tmp_path)
    if case.plugins:
        install_fakes(case.plugins, tmp_path / "site", monkeypatch)
    postgres = None
    if any("{postgres}" in a for a in case.args):
        postgres = request.getfixturevalue("postgres_url")
    run_dir = tmp_path / "run"
    ran = run_main(fill(case, run_dir, matrix_files, postgres), capsys)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    check_case(case, ran, run_dir, matrix_files, scratch, capsys)


# -- the matrix's own shape: generated from the registries, every axis covered ------------


def _axes(case: Case) -> dict[str, object]:
    """The axis values a case stands for, read from its command line."""
    args = set(case.args)
    storage = case.arg("sweep.storage") or ""
    return {
        "sampler": case.arg("sweep.sampler") or "tpe",
        "objectives": "auto"
        if case.arg("model") == "auto"
        else ("two" if "," in (case.arg("sweep.objectives") or "") else "one"),
        "pruner": case.arg("sweep.pruner") or "median",
        "model": case.arg("model"),
        "data": case.arg("data"),
        "storage": "postgres"
        if "{postgres}" in storage
        else ("journal" if storage.endswith(".jsonl") else "sqlite"),
        "workers": int(case.arg("sweep.workers") or 1),
        "launcher": "slurm-local" if case.arg("sweep.launcher") == "slurm" else "local",
        "engine": "none" if "sweep=none" in args else "optuna",
    }


def test_every_value_of_every_axis_has_a_case_that_runs():
    axes = {**AXES, "model": [*builtin_families(), "auto"], "data": data_plugins()}
    ran = [_axes(c) for c in CASES if c.refused is None]
    for axis, values in axes.items():
        seen = {a[axis] for a in ran}
        missing = [v for v in values if v not in seen]
        assert not missing, f"no case runs {axis}={missing}"


def test_every_pair_of_sampler_and_objective_kind_has_exactly_one_case():
    pairs = [(a["sampler"], a["objectives"]) for a in map(_axes, CASES)]
    sampler_cases = [p for c, p in zip(CASES, pairs, strict=True) if c.id.startswith("sampler-")]
    assert sorted(sampler_cases) == sorted(product(SAMPLERS, OBJECTIVE_KINDS))
    refused = {p for c, p in zip(CASES, pairs, strict=True) if c.refused is not None}
    assert refused == set(REFUSED)


def test_the_matrix_is_generated_from_the_registries():
    # A family added to automl without tiny settings here fails this test, not silently.
    assert set(TINY) == set(builtin_families())
    assert {"tpe", "grid", "nsga2"} <= set(AXES["sampler"]) == set(SAMPLERS)
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert set(SLICE) <= set(ids)
