"""Stop signals delivered into a trial with real signals (``automl.tuning.signals``)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from automl.core.errors import Interrupted
from automl.tuning.signals import REDELIVER_S, StopSignals


def test_a_stop_swallowed_inside_a_trial_is_raised_again_until_it_lands():
    """A raise that lands in a finalizer is lost ("Exception ignored"); the stop must not be."""
    swallowed = 0
    with StopSignals(exit_on_second=False) as signals:
        with pytest.raises(Interrupted) as stop:
            with signals.trial():
                deadline = time.monotonic() + 20 * REDELIVER_S
                sent = False
                while time.monotonic() < deadline:
                    try:
                        if not sent:
                            sent = True
                            os.kill(os.getpid(), signal.SIGTERM)
                        time.sleep(0.01)
                    except Interrupted:
                        swallowed += 1  # as a library's __del__ would: the first one is lost
                        if swallowed > 1:
                            raise
        assert stop.value.signum == signal.SIGTERM
        assert signals.received == signal.SIGTERM
    assert swallowed == 2
    # Left the trial: no alarm is armed any more.
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_between_trials_a_stop_is_only_recorded():
    with StopSignals(exit_on_second=False) as signals:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0)  # let the handler run
        assert signals.received == signal.SIGINT
        with pytest.raises(Interrupted):
            with signals.trial():
                pass
