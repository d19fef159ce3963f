"""``model=auto``: one study across model families, pruning within a family, export per family."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import optuna
import pytest
from helpers import compose
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial
from rich.console import Console

from automl.core.registry import discover_data, discover_models
from automl.study.families import AUTO, FAMILY_PARAM
from automl.study.identity import diff
from automl.study.plan import make_plan
from automl.study.run import AUTO_FOLDS, prepare
from automl.tuning import run_study
from automl.tuning.factories import make_pruner
from automl.tuning.family_pruner import FamilyPruner

# -- the wrapped pruner, on hand-made trials ----------------------------------------------

_FAMILY = CategoricalDistribution(["mlp", "xgboost"])


def _done(family: str, curve: list[float]) -> optuna.trial.FrozenTrial:
    return create_trial(
        params={FAMILY_PARAM: family, "x": 0.5},
        distributions={FAMILY_PARAM: _FAMILY, "x": FloatDistribution(0, 1)},
        value=curve[-1],
        intermediate_values=dict(enumerate(curve)),
        state=TrialState.COMPLETE,
    )


def _running(study: optuna.Study, family: str, curve: list[float]) -> optuna.trial.FrozenTrial:
    study.enqueue_trial({FAMILY_PARAM: family, "x": 0.5})
    trial = study.ask({FAMILY_PARAM: _FAMILY, "x": FloatDistribution(0, 1)})
    assert trial.params[FAMILY_PARAM] == family
    for step, value in enumerate(curve):
        trial.report(value, step)
    return study._storage.get_trial(trial._trial_id)


def test_family_pruner_judges_a_trial_against_its_own_family_only():
    plain = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    wrapped = FamilyPruner(
        lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    )
    study = optuna.create_study(direction="maximize", pruner=plain)
    # MLP epochs climb to 0.9+; XGBoost rounds are judged on a lower, slower curve.
    for curve in ([0.80, 0.90, 0.95], [0.82, 0.92, 0.96], [0.78, 0.91, 0.94]):
        study.add_trial(_done("mlp", curve))
    for curve in ([0.40, 0.50, 0.60], [0.42, 0.52, 0.62], [0.38, 0.48, 0.58]):
        study.add_trial(_done("xgboost", curve))
    good_xgb = _running(study, "xgboost", [0.45, 0.55])  # the best XGBoost so far at step 1
    bad_xgb = _running(study, "xgboost", [0.30, 0.35])
    bad_mlp = _running(study, "mlp", [0.60, 0.65])
    # Median over all trials: the good XGBoost trial looks bad next to the MLPs.
    assert plain.prune(study, good_xgb)
    # Within its family it is the best: not pruned. The bad ones are pruned in theirs.
    assert not wrapped.prune(study, good_xgb)
    assert wrapped.prune(study, bad_xgb)
    assert wrapped.prune(study, bad_mlp)
    # One wrapped pruner per family (Hyperband sizes brackets on its family's lengths).
    assert set(wrapped._pruners) == {"xgboost", "mlp"}
    assert wrapped.pruner("mlp") is not wrapped.pruner("xgboost")


def test_family_pruner_wraps_hyperband_and_wilcoxon_views():
    # Hyperband builds bracket studies from the storage it is shown; Wilcoxon reads best_trial:
    # both must see one family only (no exception, and the other family's trials are absent).
    for make in (
        lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=3),
        lambda: make_pruner("wilcoxon", {"p_threshold": 0.5, "n_startup_steps": 0}),
    ):
        wrapped = FamilyPruner(make)
        study = optuna.create_study(direction="maximize")
        for curve in ([0.8, 0.9, 0.95], [0.81, 0.91, 0.96]):
            study.add_trial(_done("mlp", curve))
        study.add_trial(_done("xgboost", [0.4, 0.5, 0.6]))
        trial = _running(study, "xgboost", [0.41, 0.51])
        assert not wrapped.prune(study, trial)  # the only other XGBoost trial is no better
        view = wrapped._views[(id(study), "xgboost")][1]
        assert {t.params[FAMILY_PARAM] for t in view.get_trials()} == {"xgboost"}
        assert view.best_trial.values == [0.6]


# -- a real model=auto study ---------------------------------------------------------------


def _plan(tmp_path, overrides, data="breast_cancer"):
    models, datas = discover_models(), discover_data()
    cfg = compose([f"model={AUTO}", f"data={data}", "trainer=fast", *overrides], models, datas)
    return make_plan(cfg, AUTO, data, models, datas, tmp_path / "run", overrides)


def _quiet():
    return Console(file=open(os.devnull, "w"), force_terminal=False, width=160)


@pytest.mark.heavy
def test_auto_study_runs_several_families_and_exports_the_winner_through_its_plugin(tmp_path):
    plan = _plan(
        tmp_path,
        [
            "model.families=[linear,xgboost,mlp]",
            "sweep.n_trials=7",
            "sweep.study_name=auto-bc",
            "data.folds=0",
            "+sweep.pruner_args.n_startup_trials=1",
            "+sweep.pruner_args.n_warmup_steps=0",
        ],
    )
    outcome = run_study(plan, _quiet())
    assert outcome.exit_code == 0
    study = optuna.load_study(
        study_name="auto-bc", storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    )
    trials = study.get_trials()
    families = [t.params[FAMILY_PARAM] for t in trials]
    # Each family's default configuration first (enqueued; torch models last), then the search.
    assert families[:3] == ["linear", "xgboost", "mlp"]
    assert all(t.user_attrs["note"].startswith("default configuration") for t in trials[:3])
    assert len(set(families)) >= 2
    for t in trials:
        family = t.params[FAMILY_PARAM]
        # A trial samples its own family's parameters only, named family.param.
        assert all(k == FAMILY_PARAM or k.startswith(f"{family}.") for k in t.params)
        assert t.user_attrs.get("family") == family
        assert t.user_attrs.get("unit") == ("epoch" if family == "mlp" else "step")

    # Every prune was decided within the family: at the step it stopped, the trial's best so
    # far was below the median of its own family's earlier complete trials' bests (the median
    # pruner's rule, with 1 start-up trial and no warm-up).
    def best_until(trial, step):
        return max(v for k, v in trial.intermediate_values.items() if k <= step)

    for t in trials:
        if t.state != TrialState.PRUNED:
            continue
        step = max(t.intermediate_values)
        mates = [
            best_until(u, step)
            for u in trials
            if u.number < t.number
            and u.state == TrialState.COMPLETE
            and u.params[FAMILY_PARAM] == t.params[FAMILY_PARAM]
            and any(k <= step for k in u.intermediate_values)
        ]
        assert mates and best_until(t, step) < np.percentile(mates, 50)
    board = json.loads((tmp_path / "run" / "leaderboard.json").read_text())
    assert board["families"] == ["linear", "xgboost", "mlp"]
    assert {row["family"] for row in board["trials"]} == set(families)
    best = next(t for t in trials if t.number == outcome.best_number)
    config = (tmp_path / "run" / "best" / "config.yaml").read_text()
    assert f"model_name: {best.params[FAMILY_PARAM]}" in config and "search: auto" in config
    from automl.results.predictor import load_best

    predictor = load_best(tmp_path / "run")
    rows = predictor.prepare([[0.0] * 30, [1.0] * 30])
    assert predictor.predict_prepared(rows).shape == (2,)


def test_auto_summary_shows_each_family(tmp_path):
    plan = _plan(
        tmp_path,
        ["model.families=[linear,forest]", "sweep.n_trials=3", "data.folds=0", "sweep.pruner=none"],
        data="wine",
    )
    console = Console(record=True, width=160, file=open(os.devnull, "w"))
    run_study(plan, console)
    text = console.export_text()
    assert "family" in text
    for family in ("linear", "forest"):
        assert f"{family}: " in text and "% of trial time" in text


def test_auto_on_small_data_selects_on_folds_unless_told_otherwise(tmp_path):
    run = prepare(_plan(tmp_path, ["model.families=[linear]"]), preflight=False)
    assert len(run.dataset.folds) == AUTO_FOLDS and run.refit
    assert any("mean of 5 folds" in n for n in run.notes)
    # The user's data.folds (0 included) stands.
    run = prepare(_plan(tmp_path, ["model.families=[linear]", "data.folds=0"]), preflight=False)
    assert not run.dataset.folds and not run.notes
    # A short time budget cannot afford five fits a trial: one validation split.
    run = prepare(_plan(tmp_path, ["model.families=[linear]", "sweep.timeout=30"]), preflight=False)
    assert not run.dataset.folds and not run.refit
    assert any("sweep.timeout=30 s is short" in n for n in run.notes)
    run = prepare(
        _plan(tmp_path, ["model.families=[linear]", "sweep.timeout=120"]), preflight=False
    )
    assert len(run.dataset.folds) == AUTO_FOLDS


def test_auto_keeps_the_families_that_fit_the_data(tmp_path):
    run = prepare(_plan(tmp_path, ["data.folds=0"]), preflight=False)
    # Tabular classification: the image/sequence models and the GAN are left out, with a note.
    assert {"linear", "xgboost", "forest", "mlp"} <= set(run.families)
    assert not {"cnn", "gan", "rnn"} & set(run.families)
    assert any("left out" in n and "cnn" in n for n in run.notes)
    from automl.core.errors import PluginError

    with pytest.raises(PluginError, match="model.families"):
        prepare(_plan(tmp_path, ["model.families=[linear,cnn]", "data.folds=0"]), preflight=False)


def test_auto_identity_covers_the_families_and_every_space(tmp_path):
    def identity(*extra):
        plan = _plan(tmp_path, ["data.folds=0", *extra])
        return prepare(plan, preflight=False).fingerprint

    base = identity("model.families=[linear,xgboost]")
    narrowed = identity("model.families=[linear,xgboost]", "space.xgboost.max_depth.high=5")
    more = identity("model.families=[linear,xgboost,forest]")
    changed = identity("model.families=[linear,xgboost]", "model.xgboost.n_estimators=50")
    assert [str(c) for c in diff(base, narrowed)] == [
        "space.xgboost.max_depth: int [2, 10] -> int [2, 5]"
    ]
    fields = {c.field for c in diff(base, more)}
    assert "families" in fields and "space.family" in fields
    assert any(f.startswith("space.forest.") for f in fields)
    assert {c.field for c in diff(base, changed)} == {"model.xgboost.n_estimators"}


def test_auto_is_a_model_option_and_help_stays_light(tmp_path):
    code = (
        "import sys; from automl.__main__ import main; rc = main(['model=auto', '--help']); "
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'xgboost', 'sklearn', 'optuna') "
        "if m in sys.modules]; print('HEAVY', heavy); sys.exit(rc)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert "families: []" in out.stdout and "auto" in out.stdout.split("model:")[1]


def test_auto_refuses_samplers_that_need_one_fixed_space(tmp_path):
    from automl.core.errors import UserError

    with pytest.raises(UserError, match="conditional space"):
        _plan(tmp_path, ["sweep.sampler=cmaes"])
    with pytest.raises(UserError, match="sweep=none trains one"):
        _plan(tmp_path, ["sweep=none"])
