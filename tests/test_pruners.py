"""Pruners by name: construction and argument errors, the data-protocol check, and what each
new pruner does to hand-made learning curves in a real Optuna study."""

from __future__ import annotations

from importlib.metadata import entry_points

import optuna
import pytest
from helpers import compose, entry_point
from rich.console import Console

from automl.core.errors import UserError
from automl.core.registry import MODEL_GROUP, discover_data, discover_models
from automl.study.plan import make_plan
from automl.study.search import PRUNERS, check_pruner, pruner_wants_fold_values
from automl.tuning import run_study
from automl.tuning.factories import make_pruner


def test_every_name_builds_its_optuna_pruner():
    expected = {
        "median": optuna.pruners.MedianPruner,
        "percentile": optuna.pruners.PercentilePruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "patient": optuna.pruners.PatientPruner,
        "wilcoxon": optuna.pruners.WilcoxonPruner,
        "threshold": optuna.pruners.ThresholdPruner,
        "none": optuna.pruners.NopPruner,
    }
    assert set(expected) == set(PRUNERS)
    for name, cls in expected.items():
        args = {"lower": 0.0} if name == "threshold" else None
        assert type(make_pruner(name, args)) is cls


def test_patient_wraps_the_named_pruner_with_its_arguments():
    pruner = make_pruner("patient", {"wrapped": "percentile", "patience": 2, "percentile": 40.0})
    assert pruner._patience == 2
    inner = pruner._wrapped_pruner
    assert isinstance(inner, optuna.pruners.PercentilePruner) and inner._percentile == 40.0
    assert inner._n_startup_trials == 4  # automl's default for the wrapped pruner stays
    plain = make_pruner("patient", {"wrapped": "none", "patience": 5})
    assert plain._wrapped_pruner is None and plain._patience == 5


@pytest.mark.parametrize(
    "name,args,message",
    [
        ("percentile", {"percent": 10}, "do not fit the percentile pruner"),
        ("patient", {"wrapped": "wilcoxon"}, "the patient pruner wraps one of median"),
        ("patient", {"wrapped": "none", "n_warmup_steps": 2}, "with wrapped=none takes only"),
        ("patient", {"patience": -1}, "do not fit the patient pruner"),
        ("successive_halving", {"reduction_factor": 1}, "do not fit the successive_halving"),
        ("asha", {}, "sweep.pruner='asha' is not one of median, percentile"),
    ],
)
def test_bad_pruner_settings_are_one_line(name, args, message):
    with pytest.raises(UserError) as exc:
        make_pruner(name, args)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_wilcoxon_needs_enough_folds():
    assert pruner_wants_fold_values("wilcoxon")
    assert not any(pruner_wants_fold_values(n) for n in PRUNERS if n != "wilcoxon")
    with pytest.raises(UserError, match="needs k-fold data: set data.folds=5"):
        check_pruner("wilcoxon", folds=None)
    with pytest.raises(UserError, match="data.folds=4 can never prune at p_threshold=0.1"):
        check_pruner("wilcoxon", folds=4)
    check_pruner("wilcoxon", folds=5)
    check_pruner("wilcoxon", {"p_threshold": 0.3}, folds=3)  # 2 folds reach p = 0.25
    check_pruner("median", folds=None)


def add_trial(study, values, state=optuna.trial.TrialState.COMPLETE):
    """A finished trial with the given intermediate values (its value is their mean)."""
    study.add_trial(
        optuna.trial.create_trial(
            value=sum(values) / len(values) if state.name == "COMPLETE" else None,
            intermediate_values=dict(enumerate(values)),
            state=state,
        )
    )


def first_pruned_step(study, values):
    """Report ``values`` step by step in a new trial; the step it is pruned at, or None."""
    trial = study.ask()
    for step, value in enumerate(values):
        trial.report(value, step)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return step
    study.tell(trial, sum(values) / len(values))
    return None


def test_wilcoxon_prunes_a_trial_worse_on_every_fold_once_the_test_can_say_so():
    study = optuna.create_study(direction="maximize", pruner=make_pruner("wilcoxon"))
    add_trial(study, [0.90, 0.92, 0.91, 0.93, 0.90])  # the best trial's per-fold accuracies
    # Worse on every fold: 4 folds are the fewest that can reach p < 0.1 (p = 1/16).
    assert first_pruned_step(study, [0.80, 0.81, 0.79, 0.82, 0.80]) == 3
    # Better on some folds, worse on others: never pruned.
    assert first_pruned_step(study, [0.91, 0.91, 0.92, 0.92, 0.89]) is None


def curves(study, n=4):
    """Four trials whose values climb from 0.5 to 0.9 over 10 steps, reported as they run
    (successive halving records its rungs on a trial while it reports)."""
    for i in range(n):
        assert first_pruned_step(study, [0.5 + 0.04 * s + 0.01 * i for s in range(10)]) is None


def test_successive_halving_stops_a_poor_trial_at_the_first_rung():
    study = optuna.create_study(direction="maximize", pruner=make_pruner("successive_halving"))
    curves(study)
    assert first_pruned_step(study, [0.1] * 10) == 2  # rung 0 is step min_resource = 2
    assert first_pruned_step(study, [0.6 + 0.04 * s for s in range(10)]) is None


def test_percentile_keeps_only_the_top_quarter_after_warm_up():
    study = optuna.create_study(direction="maximize", pruner=make_pruner("percentile"))
    curves(study)
    # Third of four at every step: kept by the median pruner, not by the 25th percentile.
    middling = [0.5 + 0.04 * s + 0.015 for s in range(10)]
    assert first_pruned_step(study, middling) == 3  # the first step after 3 warm-up steps
    median = optuna.create_study(direction="maximize", pruner=make_pruner("median"))
    curves(median)
    assert first_pruned_step(median, middling) is None


def test_patient_spares_a_poor_trial_while_it_still_improves():
    def study():
        s = optuna.create_study(
            direction="maximize", pruner=make_pruner("patient", {"patience": 2})
        )
        curves(s)
        return s

    # Below the median all along but improving every step: the median pruner alone would
    # stop it at step 3; patience keeps it.
    assert first_pruned_step(study(), [0.3 + 0.05 * s for s in range(10)]) is None
    # Below the median and getting worse: pruned once its best of the last 3 steps is below
    # its best before them (a flat curve is not worse, so it is kept).
    assert first_pruned_step(study(), [0.3 - 0.01 * s for s in range(10)]) == 3
    assert first_pruned_step(study(), [0.3] * 10) is None
    median = optuna.create_study(direction="maximize", pruner=make_pruner("median"))
    curves(median)
    assert first_pruned_step(median, [0.3 + 0.05 * s for s in range(10)]) == 3


@pytest.fixture(scope="module")
def registries(tmp_path_factory):
    from helpers import make_dist

    dist = make_dist(tmp_path_factory.mktemp("site"), "automl-fakes", "0.1")
    eps = list(entry_points(group=MODEL_GROUP)) + [
        entry_point("good", "fake_plugins:GOOD", MODEL_GROUP, dist),
    ]
    return discover_models(eps), discover_data()


@pytest.mark.parametrize("pruner", ["percentile", "successive_halving", "patient", "patient-none"])
def test_new_pruners_run_a_study(registries, tmp_path, pruner):
    models, data = registries
    extra = []
    if pruner == "patient-none":
        pruner, extra = "patient", ["'+sweep.pruner_args={wrapped:none,patience:1}'"[1:-1]]
    cfg = compose(
        [
            "model=good",
            "data=wine",
            "trainer=fast",
            "sweep.n_trials=3",
            f"sweep.pruner={pruner}",
            "sweep.study_name=p",
            *extra,
        ],
        models,
        data,
    )
    plan = make_plan(cfg, "good", "wine", models, data, tmp_path / "run")
    outcome = run_study(plan, Console(file=open("/dev/null", "w")))
    assert outcome.n_complete + outcome.n_pruned == 3 and outcome.n_failed == 0


@pytest.mark.heavy
def test_a_prune_at_the_last_epoch_keeps_the_fully_trained_trial(tmp_path):
    """A threshold no trial reaches prunes at every epoch it checks, from epoch 2 on (warm-up
    1): with 2 epochs that is the last one, so each trial completes with its model, and the
    pruner still heard the value."""
    from helpers import run_cli

    run_dir = tmp_path / "run"
    out = run_cli(
        ["model=mlp", "data=wine", "sweep.live=false", "sweep.n_trials=2",
         "trainer.max_epochs=2", "sweep.pruner=threshold", "+sweep.pruner_args.lower=2.0",
         "+sweep.pruner_args.n_warmup_steps=1", f"hydra.run.dir={run_dir}"],
        tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    study = optuna.load_study(study_name="mlp-wine", storage=f"sqlite:///{run_dir / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert all(sorted(t.intermediate_values) == [0, 1] for t in study.trials)
    assert all((run_dir / "trials" / f"{t.number:04d}" / "model.pt").exists() for t in study.trials)
    assert "pruned" not in out.stdout.split("automl summary")[0]
