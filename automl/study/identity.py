"""A study's identity: what makes its trials comparable, and how two identities differ.

A fingerprint is a plain JSON mapping stored on the study. It holds the model plugin and its
base config (everything outside the search space), the search space with each parameter's
distribution, the objective, the data plugin, its settings and a digest of the data's content,
and the trainer settings that change results. A study reopened with another fingerprint is
refused with one line per difference, except where Optuna itself copes: a searched range that
only moved its bounds.

Paths are not part of the identity: the same file at another path (another machine's mount)
is the same data, and another file under the same name is not; the content digest decides.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from automl.core.space import Choice, Fixed, Float, Param

__all__ = [
    "FINGERPRINT_VERSION",
    "Change",
    "fingerprint",
    "diff",
    "default_study_name",
    "check_study_name",
]

FINGERPRINT_VERSION = 1

# Data settings that say where the data is, not what it is (the digest says that), and limits
# that only refuse a file (data=csv's max_columns, max_line_chars): not part of a study's identity.
_LOCATION_FIELDS = ("path", "test_path", "max_columns", "max_line_chars")

_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")


def _param(p: Param) -> dict[str, Any]:
    if isinstance(p, Choice):
        return {"type": "choice", "choices": list(p.options)}
    if isinstance(p, Fixed):
        return {"type": "fixed", "value": p.value}
    kind = "float" if isinstance(p, Float) else "int"
    step = p.step if isinstance(p, Float) else (None if p.step == 1 else p.step)
    return {"type": kind, "low": p.low, "high": p.high, "log": bool(p.log), "step": step}


def _flat(node: object, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): node}


def fingerprint(
    *,
    model: str,
    model_config: Mapping[str, Any],
    space: Mapping[str, Param],
    metric: str,
    direction: str,
    data: str,
    data_config: Any,
    data_digest: str,
    trainer: Mapping[str, Any],
    objective: str | None = None,
    constraints: list[str] | None = None,
    families: list[str] | None = None,
) -> dict[str, Any]:
    """The identity of a study (JSON-ready).

    Args:
        model: Model plugin name.
        model_config: The model config as a plain mapping (pinned values applied).
        space: Searched parameters (dotted config paths); their fields are left out of the
            base config, since trials set them.
        metric: Objective metric.
        direction: ``maximize`` or ``minimize``.
        data: Data plugin name.
        data_config: The data config (a dataclass or mapping).
        data_digest: ``Dataset.digest``.
        trainer: Result-changing trainer settings (``Backend.result_settings``).
        objective: The objective(s) in words (``Goal.identity``); by default
            ``<metric> (<direction>)``.
        constraints: ``sweep.constraints`` as parsed (recorded only when there are some,
            so a study without them keeps the identity it always had).
        families: ``model=auto``'s families (every family's base config and space are in
            ``model_config`` and ``space``, prefixed by its name).
    """
    base = {k: v for k, v in _flat(model_config).items() if k not in space}
    if dataclasses.is_dataclass(data_config) and not isinstance(data_config, type):
        settings: Mapping[str, Any] = dataclasses.asdict(data_config)
    else:
        settings = data_config
    out = {
        "version": FINGERPRINT_VERSION,
        "model": model,
        "objective": objective or f"{metric} ({direction})",
        "model_config": base,
        "space": {name: _param(p) for name, p in sorted(space.items())},
        "data": data,
        "data_config": {k: v for k, v in dict(settings).items() if k not in _LOCATION_FIELDS},
        "data_content": data_digest,
        "trainer": dict(trainer),
    }
    if constraints:
        out["constraints"] = list(constraints)
    if families is not None:
        out["families"] = list(families)
    return out


@dataclass(frozen=True)
class Change:
    """One difference between a study's stored identity and this invocation's.

    Attributes:
        field: What differs, as the user would name it (``data.seed``, ``space.lr``).
        old: The stored value, described.
        new: This invocation's value, described.
        allowed: A change Optuna handles (a searched range's bounds): noted, not refused.
    """

    field: str
    old: str
    new: str
    allowed: bool = False

    def __str__(self) -> str:
        return f"{self.field}: {self.old} -> {self.new}"


def _describe_param(p: Mapping[str, Any] | None) -> str:
    if p is None:
        return "not searched"
    if p.get("type") == "choice":
        return "choice {" + ", ".join(map(str, p.get("choices", []))) + "}"
    if p.get("type") == "fixed":
        return f"fixed {p.get('value')!r}"
    text = f"{p.get('type')} [{p.get('low')}, {p.get('high')}]"
    if p.get("log"):
        text += " log"
    if p.get("step") is not None:
        text += f" step {p.get('step')}"
    return text


def _kind(p: Mapping[str, Any]) -> tuple:
    return (p.get("type"), bool(p.get("log")), p.get("step"), tuple(p.get("choices") or ()))


_SECTIONS = {"model_config": "model", "data_config": "data", "trainer": "trainer"}


def diff(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[Change]:
    """The differences between two fingerprints, in a stable order.

    A parameter whose type, scale, step or choices are unchanged but whose bounds moved is an
    allowed change; everything else is refused unless the user forces the resume.
    """
    changes: list[Change] = []
    for key in ("model", "objective", "constraints", "families", "data"):
        if stored.get(key) != current.get(key):
            changes.append(Change(key, _text(stored.get(key)), _text(current.get(key))))
    if stored.get("data_content") != current.get("data_content"):
        changes.append(
            Change(
                "data (content)", str(stored.get("data_content")), str(current.get("data_content"))
            )
        )
    for section, label in _SECTIONS.items():
        old, new = stored.get(section) or {}, current.get(section) or {}
        for name in sorted(set(old) | set(new)):
            if old.get(name, "<unset>") != new.get(name, "<unset>"):
                changes.append(
                    Change(
                        f"{label}.{name}",
                        repr(old.get(name, "<unset>")),
                        repr(new.get(name, "<unset>")),
                    )
                )
    old_space, new_space = stored.get("space") or {}, current.get("space") or {}
    for name in sorted(set(old_space) | set(new_space)):
        a, b = old_space.get(name), new_space.get(name)
        if a == b:
            continue
        allowed = a is not None and b is not None and _kind(a) == _kind(b) and a["type"] != "choice"
        if allowed:
            changes.append(Change(f"space.{name}", _describe_param(a), _describe_param(b), True))
        elif a is not None and b is not None and _kind(a)[:3] != _kind(b)[:3]:
            # A type or scale change: say what kind of parameter it was and is.
            changes.append(Change(f"space.{name}", _kind_text(a), _kind_text(b)))
        else:
            changes.append(Change(f"space.{name}", _describe_param(a), _describe_param(b)))
    return changes


def _text(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _kind_text(p: Mapping[str, Any]) -> str:
    text = str(p.get("type"))
    if p.get("log"):
        text += " log"
    if p.get("step") is not None:
        text += f" step {p.get('step')}"
    return text


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:40] or "data"


def default_study_name(model: str, data: str, path: object = None) -> str:
    """``<model>-<data>``, plus ``-<file stem>`` for data read from a file or folder.

    Two CSV files never share a study by default: ``mlp-csv-train`` and ``mlp-csv-other``.
    """
    from pathlib import PurePath

    name = f"{model}-{data}"
    if path:
        name += f"-{_slug(PurePath(str(path).rstrip('/')).stem)}"
    return name


def check_study_name(name: str) -> str:
    """Return ``name`` if it can name a study and its run directory.

    Raises:
        UserError: Empty, a path (``/`` or ``..``), or characters a directory name should not
            have.
    """
    from automl.core.errors import UserError

    if not name or not _STUDY_NAME.match(name) or ".." in name or len(name) > 120:
        raise UserError(
            f"sweep.study_name={name!r} cannot name a study: use letters, digits and . _ - + = "
            "(no path separators, no '..', at most 120 characters), e.g. sweep.study_name=cnn-run2"
        )
    return name
