"""Infrastructure failures: record why, fail the trial, re-run it with the same parameters.

A trial lost to its worker (killed, out of memory, preempted, heartbeats gone), to a signal or
to a storage error says nothing about its configuration. Whoever moves such a trial from
RUNNING to FAIL (exactly one process wins that change) enqueues a new trial with the same
parameters, ``retry_of`` and ``attempt`` in its record, up to ``sweep.max_retries``; the failed
one does not count toward ``sweep.n_trials``. When the retries are used up the last failure
counts, so a configuration that always kills its worker cannot keep a study going forever.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.core.records import Failure, TrialRecord, record_of
from automl.tuning.internals import storage_of, trial_id

__all__ = ["infra_failure_attrs", "enqueue_retry", "fail_infra"]


def infra_failure_attrs(
    record: TrialRecord, why: str, failure: Failure, max_retries: int
) -> dict[str, Any]:
    """The user attributes that record an infrastructure failure of a trial with ``record``."""
    counts = record.attempt >= max_retries
    if counts:
        why += f"; not retried again ({max_retries} retries used)"
    return TrialRecord(error=why, failure=failure, counts=counts).attrs(
        only=("error", "failure", "counts")
    )


def enqueue_retry(study: optuna.Study, trial: FrozenTrial, max_retries: int) -> bool:
    """Enqueue the re-run of a failed ``trial`` (frozen) if its retries are not used up."""
    record = record_of(trial)
    if record.attempt >= max_retries:
        return False
    again = TrialRecord(retry_of=trial.number, attempt=record.attempt + 1)
    study.enqueue_trial(dict(trial.params), user_attrs=again.attrs(only=("retry_of", "attempt")))
    return True


def fail_infra(
    study: optuna.Study, trial: FrozenTrial, why: str, failure: Failure, max_retries: int
) -> bool:
    """Fail a RUNNING ``trial`` (frozen) for an infrastructure reason and enqueue its retry.

    Returns:
        Whether this process failed it (``False``: another process or worker did first).
    """
    storage, number = storage_of(study), trial_id(trial)
    try:
        for key, value in infra_failure_attrs(record_of(trial), why, failure, max_retries).items():
            storage.set_trial_user_attr(number, key, value)
        # ``study.tell`` would not say whether this process made the change (it raises or
        # warns when the trial finished meanwhile); the storage's own method does.
        if not storage.set_trial_state_values(number, state=TrialState.FAIL):
            return False
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
        return False  # finished meanwhile, by its worker or another process
    enqueue_retry(study, trial, max_retries)
    return True
