"""Pareto fronts of several objectives, and the rule that picks the trial to export.

Pure Python over plain values: the leaderboard ranks by it, the study's end selects with it.
A trial *dominates* another when it is at least as good on every objective and better on one;
front 1 is the trials no other dominates, front 2 those only front 1 dominates, and so on
(non-dominated sorting, ``O(objectives * n^2)``: milliseconds for thousands of trials).
Only complete trials that meet every constraint take part: an infeasible trial is never on a
front and never selected.

``sweep.select`` (the rule ``best/`` follows):

- ``auto`` (default): the front-1 trial best on the first objective; ties go to the next
  objectives in order, then to the earlier trial. With one objective that is the best
  feasible trial.
- an objective's name (``latency_ms``): the front-1 trial best on that objective, ties broken
  the same way.
- ``trial:N``: trial N, which must be complete and feasible (any front).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["front_numbers", "dominates", "Candidate", "Selection", "select", "SELECT_RULES"]

SELECT_RULES = "auto, an objective's name, or trial:N"


def _signs(directions: Sequence[str]) -> list[float]:
    return [1.0 if d == "maximize" else -1.0 for d in directions]


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[str]) -> bool:
    """Whether ``a`` is at least as good as ``b`` on every objective and better on one."""
    better = False
    for x, y, s in zip(a, b, _signs(directions), strict=True):
        if s * x < s * y:
            return False
        if s * x > s * y:
            better = True
    return better


def front_numbers(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Each point's Pareto front, 1 for the non-dominated ones (``points`` order kept)."""
    n = len(points)
    dominated_by = [0] * n  # how many points dominate i
    dominating: list[list[int]] = [[] for _ in range(n)]  # the points i dominates
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j], directions):
                dominating[i].append(j)
                dominated_by[j] += 1
            elif dominates(points[j], points[i], directions):
                dominating[j].append(i)
                dominated_by[i] += 1
    fronts = [0] * n
    current = [i for i in range(n) if dominated_by[i] == 0]
    number = 1
    while current:
        following = []
        for i in current:
            fronts[i] = number
            for j in dominating[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(j)
        current, number = following, number + 1
    return fronts


@dataclass(frozen=True)
class Candidate:
    """A complete trial as selection sees it.

    Attributes:
        number: The trial's number.
        values: Its objective values, in the objectives' order.
        feasible: It meets every constraint.
        item: What the caller wants back (the Optuna trial, a leaderboard row).
    """

    number: int
    values: tuple[float, ...]
    feasible: bool = True
    item: Any = None


@dataclass(frozen=True)
class Selection:
    """The selected trial, the Pareto front it was chosen from, and the rule in words."""

    chosen: Candidate
    front: list[Candidate]
    rule: str


def _order(index: int, directions: Sequence[str]) -> Callable[[Candidate], tuple]:
    signs = _signs(directions)
    others = [i for i in range(len(directions)) if i != index]

    def key(c: Candidate) -> tuple:
        return (
            -signs[index] * c.values[index],
            *(-signs[i] * c.values[i] for i in others),
            c.number,
        )

    return key


def select(
    candidates: Sequence[Candidate],
    names: Sequence[str],
    directions: Sequence[str],
    rule: str = "auto",
) -> Selection | str:
    """Choose the trial to export by ``rule`` (``sweep.select``; see the module doc).

    Returns:
        The selection, or why there is none (no feasible complete trial, ``trial:N`` is not
        a feasible complete trial).
    """
    feasible = [c for c in candidates if c.feasible]
    if not feasible:
        if candidates:
            return f"none of the {len(candidates)} complete trials meets sweep.constraints"
        return "no trial completed"
    fronts = front_numbers([c.values for c in feasible], directions)
    members = [c for c, f in zip(feasible, fronts, strict=True) if f == 1]
    front = sorted(members, key=_order(0, directions))
    if rule.startswith("trial:"):
        number = int(rule[6:])
        for c in candidates:
            if c.number == number:
                if not c.feasible:
                    return f"sweep.select={rule}: trial #{number} does not meet sweep.constraints"
                return Selection(c, front, f"trial #{number} (sweep.select={rule})")
        return f"sweep.select={rule}: trial #{number} is not a complete trial of this study"
    index = 0 if rule == "auto" else list(names).index(rule)
    chosen = min(front, key=_order(index, directions))
    if len(names) == 1:
        some = len(feasible) < len(candidates)
        text = f"best feasible {names[0]}" if some else f"best {names[0]}"
    else:
        text = f"the Pareto-front trial with the best {names[index]}"
    return Selection(chosen, front, text)
