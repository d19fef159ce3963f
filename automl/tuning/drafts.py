"""Admission with a configuration drawn before the lock: the lock holds a count and one write.

Every worker used to take the admission lock, then count the study's trials, create its trial,
record its owner and sample its configuration (a database round trip per parameter, and the
sampler's own work: tens of milliseconds for TPE over a thousand trials) before releasing it.
With many workers and short trials that section was the fleet's speed limit: one admission at
a time, each as slow as the sampler.

Now a worker draws a *draft* first, without the lock (``StudySampler.draft``: the seed and the
duplicate check of the trial it will most likely be). Inside the lock it re-reads the study
(Optuna's cache: only what changed), counts, and, when no retry is waiting and the draft still
repeats no trial (another worker may have drawn the same point meanwhile), creates its trial
with the draft's parameters and its owner in one write (``claim``). Otherwise the trial is
asked for and sampled inside the lock as before. Either way the guarantees stand: the total
is exact (count and creation under one lock) and no configuration runs twice (the duplicate
check sees every trial created before it).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.core.records import TrialRecord
from automl.study.run import Run
from automl.tuning.internals import storage_of, study_id
from automl.tuning.lost import worker_id
from automl.tuning.sampling import Draft, StudySampler

__all__ = ["claim", "open_claimed"]


def claim(
    study: optuna.Study,
    sampler: StudySampler,
    draft: Draft | None,
    trials: Sequence[Any],
    waited: float,
) -> int | None:
    """Create the trial of ``draft`` (under the admission lock); its id, or ``None``.

    ``None``: no draft, a retry is waiting (it goes first, through ``study.ask``), or the draft
    repeats a trial created since it was drawn. ``waited``: seconds the lock took to get
    (stored in the trial's record with its owner, in the same write).
    """
    if draft is None or not sampler.unseen(draft, trials):
        return None
    if any(t.state == TrialState.WAITING for t in trials):
        return None
    template = FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        values=None,
        datetime_start=datetime.datetime.now(),
        datetime_complete=None,
        params=dict(draft.params),
        distributions=dict(draft.distributions),
        user_attrs=TrialRecord(worker=worker_id(), admission_s=round(waited, 4)).attrs(),
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    return storage_of(study).create_new_trial(study_id(study), template_trial=template)


def open_claimed(
    run: Run, study: optuna.Study, sampler: StudySampler, trial_id: int, draft: Draft
) -> tuple[optuna.Trial, dict[str, Any]]:
    """The live trial of a claimed draft and its parameters (after the lock is released).

    Its parameters are stored already, so sampling returns them and writes nothing.
    """
    trial = optuna.Trial(study, trial_id)
    if draft.redrawn:
        sampler.redrawn[trial.number] = draft.redrawn
    return trial, run.services.sample(trial)
