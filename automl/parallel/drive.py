"""The parent's wait for its workers: stop signals passed on, a second one kills them.

SIGINT (Ctrl-C) and SIGTERM (a scheduler) reach the parent; it sends the same signal to every
worker (a worker runs in its own session, so a terminal's Ctrl-C reaches the parent only),
each worker fails its running trial with the signal as the reason (re-run later) and exits,
and the parent then writes the leaderboard files, ``best/`` and the summary. A second signal
kills every worker at once (SIGKILL) and exits with 128 + signal; their trials are failed as
lost and re-run by the next run of the command.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

__all__ = ["Fleet", "drive"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Fleet(Protocol):
    """Workers the parent waits for: local processes, or SLURM jobs."""

    def start(self) -> None:
        """Start the workers."""

    def poll(self) -> bool:
        """Look after the workers (replace, time out, back off); whether all are done."""

    def stop(self, signum: int) -> None:
        """Pass a stop signal on to every worker."""

    def kill(self) -> None:
        """Kill every worker now."""


def drive(
    fleet: Fleet, tick: Callable[[], None] | None = None, interval: float = 0.5
) -> int | None:
    """Start ``fleet`` and look after it until every worker is done.

    Args:
        fleet: The workers.
        tick: Called about every ``interval`` seconds (the parent redraws its leaderboard).
        interval: Seconds between two looks.

    Returns:
        The first stop signal received, or ``None``.
    """
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if received:
            fleet.kill()
            sys.stdout.flush()
            os._exit(128 + signum)
        received.append(signum)
        fleet.stop(signum)

    previous: dict[int, Any] = {s: signal.signal(s, on_signal) for s in _SIGNALS}
    try:
        fleet.start()
        while not fleet.poll():
            if tick is not None:
                tick()
            time.sleep(interval)
        if tick is not None:
            tick()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return received[0] if received else None
