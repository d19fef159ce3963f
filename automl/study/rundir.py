"""What an invocation writes into its run directory before any trial: config, history, log.

Nothing is written until the invocation has passed every check (plugins, space, data,
preflight, the study's identity): a refused command leaves no new file or folder behind.
Hydra is told not to write ``.hydra/`` or a log itself (``conf/config.yaml``); this module
writes them once the run is accepted. ``history.jsonl`` gets one line per invocation (time,
host, process and overrides), so a study restarted many times keeps every command that
shaped it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["record_invocation", "remove_if_new", "HISTORY_FILE", "LOG_FILE"]

HISTORY_FILE = "history.jsonl"
LOG_FILE = "automl.log"


def record_invocation(
    run_dir: Path,
    composed: DictConfig,
    overrides: Sequence[str],
    event: dict[str, Any] | None = None,
) -> None:
    """Save the composed config, append this invocation to the history, start the log file."""
    from omegaconf import OmegaConf

    from automl.core.atomic import write_text

    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    write_text(hydra_dir / "config.yaml", OmegaConf.to_yaml(composed))
    write_text(hydra_dir / "overrides.yaml", OmegaConf.to_yaml(list(overrides)))
    line = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "overrides": list(overrides),
        **(event or {}),
    }
    with open(run_dir / HISTORY_FILE, "a") as handle:
        handle.write(json.dumps(line) + "\n")
    root = logging.getLogger()
    # One run log per process: a process that runs several studies (the API, a benchmark,
    # the tests) writes each run's lines to that run's log only, not to every earlier one.
    for old in [h for h in root.handlers if isinstance(h, _RunLog)]:
        root.removeHandler(old)
        old.close()
    handler = _RunLog(run_dir / LOG_FILE)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


class _RunLog(logging.FileHandler):
    """The run directory's ``automl.log``; a run directory removed under it costs no trial."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        except OSError:  # FileHandler reopens a closed log outside its own guard
            self.handleError(record)


def remove_if_new(run_dir: Path, stop_at: Path) -> None:
    """Remove ``run_dir`` and its parents up to ``stop_at`` while they are empty.

    Hydra creates the run directory before the task starts; a refused invocation removes it
    again when nothing else is in it (an existing study's directory is never empty).
    """
    path = run_dir.resolve()
    stop = stop_at.resolve()
    while True:
        try:
            path.rmdir()
        except OSError:
            return  # not empty (or not ours to remove)
        path = path.parent
        if path == stop or stop not in path.parents:
            return
