"""Exceptions that the command line turns into one-line messages."""

from __future__ import annotations

__all__ = [
    "UserError",
    "PluginError",
    "PluginCodeError",
    "SpaceError",
    "DataError",
    "StudyError",
    "TrialPruned",
    "TrialTimeout",
    "OutOfTime",
    "Interrupted",
    "InputError",
    "ExportError",
    "reason",
    "signal_reason",
]


class UserError(Exception):
    """A mistake the user can fix: printed as one line, exit code 2, nothing created."""


class PluginError(UserError):
    """A model or data plugin is missing, broken, duplicated or incompatible."""


class PluginCodeError(PluginError):
    """A plugin's own code raised on a path a user runs (a data plugin's ``load``, a model's
    build in the preflight): one line naming the plugin and its package, exit 2.

    Attributes:
        details: The traceback, for the plugin's author. The command writes it to the run's
            ``automl.log`` when the run directory stays, else to a file the line names.
        log: Where the traceback was written, once it was.
    """

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.details = details
        self.log: str | None = None


class SpaceError(UserError):
    """A search space names a field the config lacks, or a range that cannot be sampled."""


class DataError(UserError):
    """A data set cannot be loaded or split as configured."""


class StudyError(UserError):
    """The study cannot be opened or continued as asked (a changed study, a damaged storage)."""


class InputError(DataError):
    """Inputs given for prediction do not match the schema exported with the model.

    The HTTP server answers 422 with the message; ``predict`` prints it as one line.

    Attributes:
        field: Where the problem is, e.g. ``instances[3].mean radius`` (``""`` when global).
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class ExportError(UserError):
    """A model export (``best/``) is missing, incomplete, tampered with or unsafe to load."""


class TrialPruned(Exception):
    """Raised by training code when the reporter asked it to stop early.

    The training layer knows nothing of Optuna; the tuning layer turns this into
    ``optuna.TrialPruned``.

    Attributes:
        epoch: The step the trial was pruned at.
        value: Its value there.
        note: Something the user should know about the prune (stored on the trial), e.g.
            that the plugin's code swallowed the signal and trained on.
    """

    def __init__(self, epoch: int, value: float, note: str | None = None) -> None:
        super().__init__(f"pruned at step {epoch} (value {value:.6g})")
        self.epoch = epoch
        self.value = value
        self.note = note
        """Something the user should know about the prune (stored on the trial)."""


class TrialTimeout(BaseException):
    """A trial ran past ``sweep.trial_timeout``: it fails, and counts toward the total.

    It arrives asynchronously (an alarm), anywhere in the training code; as a
    ``BaseException`` it passes through ``except Exception`` blocks of model and library code,
    which would otherwise swallow it or turn it into another error.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timeout after {seconds:g} s")
        self.seconds = seconds


class OutOfTime(BaseException):
    """A trial was still running, without a report, ``TimeBudget.grace`` seconds after its stop
    time in the time budget (``sweep.timeout``): it is cut where it is.

    An alarm, like ``TrialTimeout``. A torch trial that has a best epoch keeps it (the
    trial is stopped, not failed); any other trial fails with the reason and is re-run by a
    later invocation (it is not its own failure).
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"cut at the time budget (sweep.timeout={seconds:g} s)")
        self.seconds = seconds


class Interrupted(BaseException):
    """SIGTERM or SIGINT reached the process: stop the trial, keep the study consistent.

    A ``BaseException`` (like ``KeyboardInterrupt``) so that ``except Exception`` in model code
    does not swallow it; not a ``KeyboardInterrupt``, which Lightning turns into
    ``SystemExit(1)`` and so loses which signal it was.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal_reason(signum))
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's code for death by this signal: 128 + signal number (130, 143)."""
        return 128 + self.signum


def signal_reason(signum: int) -> str:
    """``terminated (SIGTERM)`` / ``interrupted (Ctrl-C)``: the reason a stopped trial stores."""
    import signal

    if signum == signal.SIGINT:
        return "interrupted (Ctrl-C)"
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"terminated ({name})"


def reason(exc: BaseException) -> str:
    """``"<ExceptionType>: <first line of the message>"``: what a leaderboard row can hold."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
