"""SIGTERM, SIGINT and the per-trial timeout, delivered where they leave the study consistent.

Schedulers stop jobs with SIGTERM (SLURM, Kubernetes) and users with Ctrl-C; both mean the
same here. The first signal stops the running trial at once (it is failed with the signal as
its reason and re-run later) and the study then writes its leaderboard, summary and ``best/``;
a second signal exits at once (exit code 128 + signal). The timeout of a trial is an alarm
that fails the trial with ``timeout after N s``; the same alarm cuts a trial that is still
running, without a report, past its cut time in the command's time budget (``OutOfTime``).

Stopping "at once" means raising in the main thread wherever it is, which is safe inside
training but not halfway through a write to the study storage: ``critical()`` marks the
storage writes made while a trial trains (its reports), and an exception that arrives inside
one is raised when it ends. Outside a trial's training nothing is raised; the study loop polls
``received`` between trials.

A raise can be lost: when the signal lands while Python runs a finalizer or a weakref
callback (a library's ``__del__``), the interpreter prints "Exception ignored" and goes on.
So after a stop signal inside a trial the alarm repeats every ``REDELIVER_S`` seconds and
raises again until the trial's section is left (and so does the alarm that bounds the export
after a signal, ``bounded``); the interpreter's "Exception ignored" report of such a lost
raise is not printed: it is raised again anyway.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from automl.core.errors import Interrupted, OutOfTime, TrialTimeout

__all__ = ["StopSignals"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)

REDELIVER_S = 0.5
"""After a stop signal inside a trial, the stop is raised again this often until it lands."""


class StopSignals:
    """Signal handling for one study invocation (a context manager; main thread only).

    Args:
        exit_on_second: A second stop signal exits at once. Off in a worker started by a
            parent (``automl.parallel``), which may get the same signal twice (from its
            parent and from a scheduler that signals every process of a job): its parent
            kills it when the user insists.

    Attributes:
        received: The first stop signal's number, or ``None``.
    """

    def __init__(self, exit_on_second: bool = True) -> None:
        self.exit_on_second = exit_on_second
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._in_trial = False
        self._critical = 0
        self._pending: BaseException | None = None
        self._timeout: float | None = None
        self._cut: tuple[float, float] | None = None
        self._active = threading.current_thread() is threading.main_thread()
        self._previous_hook = sys.unraisablehook

    def __enter__(self) -> StopSignals:
        if self._active:
            for signum in _SIGNALS:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            if hasattr(signal, "SIGALRM"):
                self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._on_alarm)
            self._previous_hook = sys.unraisablehook
            sys.unraisablehook = self._unraisable
        return self

    def __exit__(self, *exc: object) -> None:
        self._disarm()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if self._active:
            sys.unraisablehook = self._previous_hook

    def _unraisable(self, unraisable: sys.UnraisableHookArgs) -> None:
        # A stop or a timeout raised inside a finalizer is lost, and raised again by the
        # repeating alarm: not worth a traceback on the user's terminal.
        if not isinstance(unraisable.exc_value, Interrupted | TrialTimeout):
            self._previous_hook(unraisable)

    @property
    def exit_code(self) -> int | None:
        """128 + the received signal's number (130 for SIGINT, 143 for SIGTERM), or ``None``."""
        return None if self.received is None else 128 + self.received

    # -- delivery ------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            if not self.exit_on_second:
                return
            # The second signal: the user or scheduler insists. Leave now; the storage is
            # consistent (every write is a transaction or one appended record) and the
            # running trial is found lost and re-run by the next worker or rerun.
            sys.stdout.flush()
            os._exit(128 + signum)
        self.received = signum
        if self._in_trial and self._active and hasattr(signal, "setitimer"):
            # Raised again until it lands (a raise inside a finalizer is swallowed).
            signal.setitimer(signal.ITIMER_REAL, REDELIVER_S, REDELIVER_S)
        self._deliver(Interrupted(signum))

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if not self._in_trial:
            return
        if self.received is not None:
            self._deliver(Interrupted(self.received))
        elif self._cut is not None and time.monotonic() >= self._cut[0] - 0.01:
            self._deliver(OutOfTime(self._cut[1]))
        elif self._timeout is not None:
            self._deliver(TrialTimeout(self._timeout))

    def _deliver(self, exc: BaseException) -> None:
        if not self._in_trial:
            return  # between trials: the loop sees ``received``
        if self._critical:
            self._pending = self._pending or exc
            return
        raise exc

    def _disarm(self) -> None:
        if self._active and hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)

    # -- sections ------------------------------------------------------------------------

    @contextmanager
    def trial(
        self, timeout: float | None = None, cut: tuple[float, float] | None = None
    ) -> Iterator[None]:
        """A trial's training: a stop signal, the timeout or the budget's cut raise inside
        it, at once.

        Args:
            timeout: ``sweep.trial_timeout`` (seconds), or ``None``.
            cut: ``(time.monotonic() to cut at, sweep.timeout)``: past it ``OutOfTime`` is
                raised (the trial has not reported since its stop time), or ``None``.
        """
        self._in_trial, self._pending, self._timeout, self._cut = True, None, timeout, cut
        try:
            if self.received is not None:
                raise Interrupted(self.received)
            delays = [float(timeout)] if timeout else []
            if cut is not None:
                delays.append(max(cut[0] - time.monotonic(), 0.01))
            if delays and self._active and hasattr(signal, "setitimer"):
                signal.setitimer(signal.ITIMER_REAL, min(delays))
            yield
        finally:
            self._disarm()
            self._in_trial, self._pending, self._timeout, self._cut = False, None, None, None

    @contextmanager
    def bounded(self, seconds: float) -> Iterator[None]:
        """Work that must end within ``seconds`` even after a stop signal (the export after
        one): when the alarm fires, ``Interrupted`` (a signal was received) or
        ``TrialTimeout`` is raised inside it; a first stop signal arriving inside it raises
        ``Interrupted``, a second one exits as ever."""
        self._in_trial, self._pending, self._timeout = True, None, seconds
        try:
            if self._active and hasattr(signal, "setitimer"):
                # Repeats until the raise lands (one inside a finalizer is lost).
                signal.setitimer(signal.ITIMER_REAL, float(seconds), REDELIVER_S)
            yield
        finally:
            self._disarm()
            self._in_trial, self._pending, self._timeout = False, None, None

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A storage write inside a trial: an arriving stop is raised when it is done."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
            if not self._critical and self._pending is not None and self._in_trial:
                exc, self._pending = self._pending, None
                raise exc
