"""Calling a plugin's own code on a user's path: what it raises becomes one line.

A plugin signals a bad option with ``automl.errors.UserError`` (or a subclass, such as
``DataError``); that line reaches the user as written. Anything else a plugin's code raises
(a ``ValueError`` from a data plugin's ``load``, an ``ImportError`` of its module) is a
``PluginCodeError``: one line naming the plugin, its package and the exception, exit 2, and
the traceback kept for the plugin's author (``save_details``: the run's ``automl.log``, or a
file the line names). Light: no heavy imports.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl.core.errors import PluginCodeError, UserError, reason

__all__ = ["call_plugin", "code_error", "provider", "save_details"]

_KINDS = {"automl.models": "model", "automl.data": "data"}


def provider(group: str, name: str) -> str:
    """``package version`` of the installed distribution that provides plugin ``name``."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=group, name=name):
        dist = getattr(ep, "dist", None)
        if dist is not None:
            return f"{dist.metadata['Name']} {dist.version}"
    return "(not installed through an entry point)"


def code_error(group: str, name: str, action: str, exc: BaseException) -> PluginCodeError:
    """The one-line error for ``exc``, raised by plugin ``name``'s code while doing ``action``."""
    kind = _KINDS.get(group, "a")
    message = (
        f"{kind} plugin '{name}' from package {provider(group, name)} failed in {action}: "
        f"{reason(exc)}; a bug in the plugin unless that message names one of its settings: "
        "report it to the plugin's author"
    )
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return PluginCodeError(message, details)


def call_plugin(group: str, name: str, action: str, target: str, *args: Any) -> Any:
    """Import ``target`` (``"module:function"``) and call it with ``args``.

    Raises:
        UserError: What the plugin itself raised to say a setting is wrong (as it is).
        PluginCodeError: Anything else the import or the call raised.
    """
    from automl.core.plugin import resolve

    try:
        function: Callable[..., Any] = resolve(target)
    except Exception as exc:  # ImportError, or a PluginError naming the missing attribute
        raise code_error(group, name, f"importing {target}", exc) from exc
    try:
        return function(*args)
    except UserError:
        raise
    except Exception as exc:
        raise code_error(group, name, action, exc) from exc


def save_details(exc: PluginCodeError, log: Path | None) -> str:
    """Append ``exc``'s traceback to ``log`` (the run's ``automl.log``, when the run directory
    stays: a study that is resumed), or with ``None`` write it to a new file in the temporary
    folder; return where."""
    import tempfile

    if log is not None:
        path = log
        with open(path, "a") as handle:
            handle.write(f"{exc}\n{exc.details}\n")
    else:
        fd, name = tempfile.mkstemp(prefix="automl-traceback-", suffix=".txt")
        with open(fd, "w") as handle:
            handle.write(f"{exc}\n{exc.details}\n")
        path = Path(name)
    exc.log = str(path)
    return str(path)
