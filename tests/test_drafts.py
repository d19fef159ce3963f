"""Admission with a configuration drawn before the lock (``automl.tuning.drafts``): the draft
is what the trial would have drawn inside the lock, a claim is one write with the trial's
owner, and a draft that became a duplicate (or a waiting retry) takes the old path."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from test_resume import plan_for, quiet, registries, trials_of  # noqa: F401

from automl.core.space import Int
from automl.tuning import run_study
from automl.tuning.drafts import claim
from automl.tuning.sampling import StudySampler, distributions

SPACE = {"a": Int(0, 9), "b": Int(0, 9)}


def tpe(seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=3, multivariate=True)


def study_with_history(sampler: StudySampler, n: int = 6) -> optuna.Study:
    study = optuna.create_study(sampler=sampler)
    for i in range(n):  # a history TPE models (past its start-up trials)
        study.add_trial(
            optuna.trial.create_trial(
                params={"a": i, "b": (3 * i) % 10},
                distributions=distributions(SPACE),
                value=float((i - 4) ** 2),
            )
        )
    return study


def test_a_draft_is_what_the_trial_would_have_drawn_inside_the_lock():
    drafts = StudySampler(tpe, 0, distributions(SPACE), drafts=True)
    study = study_with_history(drafts)
    draft = drafts.draft(study, study.get_trials(deepcopy=False))
    assert draft is not None and draft.number == 6
    # The old path, on a copy of the same study: ask, then sample inside the trial.
    old = StudySampler(tpe, 0, distributions(SPACE))
    again = study_with_history(old)
    trial = again.ask()
    drawn = {name: p.suggest(trial, name) for name, p in SPACE.items()}
    assert trial.number == draft.number and drawn == draft.params


def test_a_claim_is_one_write_with_the_owner_and_the_wait():
    sampler = StudySampler(tpe, 0, distributions(SPACE), drafts=True)
    study = study_with_history(sampler)
    trials = study.get_trials(deepcopy=False)
    draft = sampler.draft(study, trials)
    trial_id = claim(study, sampler, draft, trials, waited=0.25)
    stored = study._storage.get_trial(trial_id)
    assert stored.state == TrialState.RUNNING and stored.params == draft.params
    assert stored.user_attrs["admission_s"] == 0.25
    assert stored.user_attrs["worker"].rsplit("/", 1)[1].isdigit()  # its owner, at once


def test_a_duplicated_draft_or_a_waiting_retry_takes_the_old_path():
    sampler = StudySampler(tpe, 0, distributions(SPACE), drafts=True)
    study = study_with_history(sampler)
    draft = sampler.draft(study, study.get_trials(deepcopy=False))
    # Another worker created a trial with the very same point since the draft was drawn.
    study.add_trial(
        optuna.trial.create_trial(
            params=draft.params, distributions=distributions(SPACE), value=1.0
        )
    )
    assert claim(study, sampler, draft, study.get_trials(deepcopy=False), 0.0) is None
    fresh = sampler.draft(study, study.get_trials(deepcopy=False))
    study.enqueue_trial({"a": 0, "b": 0})  # a retry waits: it goes first, through ask
    assert claim(study, sampler, fresh, study.get_trials(deepcopy=False), 0.0) is None
    # Samplers that cannot draw ahead give no draft at all.
    assert StudySampler(tpe, 0, distributions(SPACE)).draft(study, []) is None


def test_a_study_records_each_trials_admission_wait(registries, tmp_path):  # noqa: F811
    run_study(plan_for(registries, tmp_path, overrides=["sweep.n_trials=3"]), quiet())
    trials = trials_of(tmp_path)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3
    assert all(t.user_attrs["admission_s"] >= 0 for t in trials[1:])
    assert all("worker" in t.user_attrs for t in trials)
