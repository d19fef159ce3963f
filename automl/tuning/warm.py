"""Warm starts: the trials a new study runs first.

Two sources, enqueued once, when the study has no trial at all (checked under the admission
lock, so two workers starting a study together enqueue them once; a rerun, a resume or a
retry never enqueues them again):

- ``sweep.warm_start=<run dir or storage URL>[:study]``: the best ``sweep.warm_start_k``
  complete, feasible configurations of an earlier study of the same model family, best first
  (read read-only through ``automl.tuning.stored``);
- ``sweep.enqueue_defaults`` (on by default): the plugin's default configuration (with
  ``model=auto``, each family's), so a search is never worse than the defaults.

A value outside today's space is clipped into it (a number) or left to the sampler (a choice
that is no longer offered); a parameter today's space does not search is dropped. Each such
change is one note before the study.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.core.errors import UserError
from automl.core.records import record_of
from automl.core.space import Choice, Fixed, Float, Int, Param
from automl.core.study_record import StudyRecord
from automl.results.pareto import front_numbers
from automl.study.families import FAMILY_PARAM, family_of, own_params, prefixed
from automl.study.identity import check_study_name
from automl.study.run import Run
from automl.tuning.admission import admission

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

__all__ = ["enqueue_first", "fit_to_space", "split_target", "warm_configs", "DEFAULTS_NOTE"]

DEFAULTS_NOTE = "default configuration"
"""The note an enqueued default configuration's trial carries."""

_STUDY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")


def split_target(text: str) -> tuple[str, str | None]:
    """``runs/xgb:my-study`` -> ``("runs/xgb", "my-study")``; a URL's own colons stay put.

    The part after the last ``:`` names the study when it is a study name (no ``/``) and
    what comes before it is not just a URL scheme (``sqlite:///x.db`` has no study).
    """
    head, sep, tail = text.rpartition(":")
    if sep and head and _STUDY.fullmatch(tail) and not tail.isdigit() and "://" not in tail:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", head):  # not "sqlite" of sqlite:...
            check_study_name(tail)
            return head, tail
    return text, None


_DROPPED = object()
"""What ``_clip`` gives for a value it cannot place (``None`` is a value: a choice may offer it,
as the forest's ``max_depth: [null, 4, 8, 16]`` does)."""


def _clip(param: Param, value: object) -> tuple[Any, str | None]:
    """``value`` moved into ``param``'s range (and onto its step), or ``_DROPPED`` when it
    cannot be: a choice not offered, or not a number. The second item says what changed."""
    if isinstance(param, Choice):
        return (value, None) if value in param.options else (_DROPPED, "not among its choices")
    if isinstance(param, Fixed):
        return param.value, None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        what = "null, which only a choice can offer" if value is None else "not a number"
        return _DROPPED, what
    low, high = param.low, param.high
    moved = min(max(value, low), high)
    if isinstance(param, Int):
        moved = low + round((moved - low) / param.step) * param.step
        moved = int(min(moved, high - (high - low) % param.step))
    elif isinstance(param, Float):
        if param.step is not None:
            moved = low + round((moved - low) / param.step) * param.step
            moved = min(moved, high)
        moved = float(moved)
    if moved == value:
        return moved, None
    where = f"[{low}, {high}]" + (" log" if param.log else "")
    return moved, f"clipped into {where}"


def fit_to_space(
    params: Mapping[str, Any], space: Mapping[str, Param]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """``params`` as today's ``space`` can run them.

    Returns:
        The parameters (clipped; dropped where they cannot be), and ``(name, change)`` for
        each parameter changed or dropped.
    """
    out: dict[str, Any] = {}
    changes: list[tuple[str, str]] = []
    for name, value in params.items():
        param = space.get(name)
        if param is None:
            changes.append((name, "dropped (not searched here)"))
            continue
        moved, change = _clip(param, value)
        if change is not None:
            changes.append((name, f"dropped ({change})" if moved is _DROPPED else change))
        if moved is not _DROPPED:
            out[name] = moved
    return out, changes


def _space_of(run: Run, params: Mapping[str, Any]) -> dict[str, Param]:
    """The space a configuration is checked against: its family's (prefixed) with
    ``model=auto``, the run's otherwise."""
    if not run.auto:
        return dict(run.plan.space)
    name = family_of(params)
    fam = run.families[name].family if name is not None and name in run.families else None
    space: dict[str, Param] = {FAMILY_PARAM: Choice(list(run.families))}
    if fam is not None:
        space.update({prefixed(fam.name, k): p for k, p in fam.space.items()})
    return space


def _translate(run: Run, old_model: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """An earlier trial's parameters named as this run's study names them; ``None`` when the
    trial's family is not searched here."""
    old_family = family_of(params) if old_model == "auto" else old_model
    if not run.auto:
        if old_family != run.plan.model_name:
            return None
        return own_params(old_family, params) if old_model == "auto" else dict(params)
    if old_family is None or old_family not in run.families:
        return None
    if old_model == "auto":
        return dict(params)
    return {FAMILY_PARAM: old_family, **{prefixed(old_family, k): v for k, v in params.items()}}


def _ranked(study: optuna.Study) -> list[FrozenTrial]:
    """Complete, feasible trials of an earlier study, best first (front, then first value)."""
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values and record_of(t).unmet is None
    ]
    directions = [d.name.lower() for d in study.directions]
    fronts = front_numbers([t.values for t in complete], directions)
    sign = -1.0 if directions[0] == "maximize" else 1.0
    order = sorted(
        zip(fronts, complete, strict=True), key=lambda p: (p[0], sign * p[1].values[0], p[1].number)
    )
    return [t for _, t in order]


def warm_configs(run: Run) -> tuple[list[tuple[dict[str, Any], str]], list[str]]:
    """The earlier study's best configurations for this run, and notes on what changed.

    Raises:
        UserError: The target cannot be opened, or its study searched another model family.
    """
    from automl.tuning.stored import open_stored

    sweep = run.plan.sweep
    target, name = split_target(str(sweep.warm_start))
    stored = open_stored(target, name)
    old = stored.load()
    old_model = StudyRecord.from_attrs(old.user_attrs).model or ""
    wanted = list(run.families) if run.auto else [run.plan.model_name]
    if old_model != "auto" and old_model not in wanted:
        raise UserError(
            f"sweep.warm_start={sweep.warm_start}: study '{stored.name}' searched model "
            f"{old_model or '(unknown)'}, not {', '.join(wanted)}; warm starts come from a "
            "study of the same model family"
        )
    configs: list[tuple[dict[str, Any], str]] = []
    changed: Counter[tuple[str, str]] = Counter()
    for trial in _ranked(old):
        params = _translate(run, old_model, trial.params)
        if params is None:
            continue
        fitted, changes = fit_to_space(params, _space_of(run, params))
        changed.update(changes)
        configs.append((fitted, f"warm start: {stored.name} #{trial.number}"))
        if len(configs) == sweep.warm_start_k:
            break
    notes = [
        f"warm start: {len(configs)} configuration(s) of study '{stored.name}' "
        f"({stored.where}) run first, best first"
    ]
    if not configs:
        notes[0] = (
            f"warm start: study '{stored.name}' ({stored.where}) has no complete feasible "
            f"trial of {', '.join(wanted)}; nothing to enqueue"
        )
    notes += [f"warm start: {p} {what} in {n} configuration(s)" for (p, what), n in changed.items()]
    return configs, notes


def _defaults(run: Run) -> tuple[list[tuple[dict[str, Any], str]], list[str]]:
    """Each family's default configuration, fitted to the space; the changes in words."""
    configs, changed = [], []
    for values in run.services.defaults():
        fitted, changes = fit_to_space(values, _space_of(run, values))
        family = family_of(values)
        for name, what in changes:
            moved = f"{values[name]!r} -> {fitted[name]!r}" if name in fitted else what
            changed.append(f"{name} {moved}")
        configs.append((fitted, f"{DEFAULTS_NOTE} ({family})" if family else DEFAULTS_NOTE))
    notes = [f"defaults moved into the space: {', '.join(changed)}"] if changed else []
    return configs, notes


def enqueue_first(
    run: Run,
    study: optuna.Study,
    storage: BaseStorage,
    notes: list[str],
    warm: list[tuple[dict[str, Any], str]] | None = None,
) -> None:
    """Enqueue the warm-start configurations, then the defaults, into a study with no trial.

    ``warm`` is what ``warm_configs`` read (``sweep.warm_start``), before the study opened.

    Appends a note per enqueued group and per changed parameter to ``notes``.
    """
    sweep = run.plan.sweep
    queue: list[tuple[dict[str, Any], str]] = []
    lines: list[str] = []
    if sweep.warm_start:
        if study.get_trials(deepcopy=False):
            notes.append(
                "warm start: the study already has trials, so nothing is enqueued (a warm "
                "start seeds a new study)"
            )
        else:
            queue += warm or []
    defaults_wanted = sweep.enqueue_defaults and run.plan.sampler.name != "grid"
    if defaults_wanted:
        defaults, default_notes = _defaults(run)
        seen = [q[0] for q in queue]
        fresh = [d for d in defaults if d[0] not in seen]
        queue += fresh
        if fresh:
            first, last = len(queue) - len(fresh), len(queue) - 1
            trials = f"trial {first}" if first == last else f"trials {first}-{last}"
            what = "each family's default configuration" if run.auto else "default configuration"
            lines.append(f"{trials}: {what} (sweep.enqueue_defaults)")
            lines += default_notes
    if not queue:
        return
    with admission(storage, run.plan.study_name):
        if study.get_trials(deepcopy=False):
            return  # another worker started the study first (and enqueued these)
        for params, note in queue:
            study.enqueue_trial(params, user_attrs={"note": note})
    notes.extend(lines)
