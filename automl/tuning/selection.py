"""Which trial a study exports, and what the summary and ``best/pareto.json`` say about it.

One study, one rule (``automl.results.pareto``): with one objective and ``sweep.select=auto`` the
leaderboard's first feasible trial (``automl.results.leaderboard.rank_rows``: best value, ties
broken by
the next validation metric, then the trial number), so the exported trial is the one ranked 1;
otherwise the trial ``sweep.select`` picks among the
feasible complete trials, from the Pareto front when there are several objectives. A trial that
misses a constraint (``Goal.unmet``) is never chosen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from automl.core.records import finite_or_none, ranked_values, record_of
from automl.results.finalize import Selected
from automl.results.leaderboard import format_params, rank_rows, row_from_trial
from automl.results.pareto import Candidate, select
from automl.study.run import Run

__all__ = ["Choice", "choose_best", "PARETO_FILE"]

PARETO_FILE = "pareto.json"
"""The Pareto front of a multi-objective study, in ``best/``."""


@dataclass
class Choice:
    """The trial to export (or why there is none), and the front it was chosen from."""

    run: Run
    trial: FrozenTrial | None = None
    why: str | None = None
    rule: str | None = None
    front: list[FrozenTrial] = field(default_factory=list)

    def _values(self, trial: FrozenTrial) -> dict[str, float | None]:
        return {
            name: finite_or_none(v)
            for name, v in zip(self.run.goal.names, ranked_values(trial) or [], strict=False)
        }

    def pareto(self) -> dict[str, Any]:
        """``best/pareto.json``: the objectives, the rule, and every front member."""
        goal = self.run.goal
        return {
            "objectives": [{"name": o.key, "direction": o.direction} for o in goal.objectives],
            "constraints": [str(c) for c in goal.constraints],
            "selected": self.trial.number if self.trial is not None else None,
            "rule": self.rule,
            "front": [
                {
                    "trial": t.number,
                    "values": self._values(t),
                    "family": record_of(t).family,
                    "params": {k: _plain(v) for k, v in t.params.items()},
                    "metrics": {k: finite_or_none(v) for k, v in record_of(t).metrics.items()},
                }
                for t in self.front
            ],
        }

    def attach(self, selected: Selected) -> None:
        """Record the rule on the export, and add ``pareto.json`` to it (several objectives)."""
        selected.selected_by = self.rule
        if self.run.goal.multi:
            selected.extra[PARETO_FILE] = json.dumps(self.pareto(), indent=2, allow_nan=False)

    def lines(self) -> list[tuple[str, str]]:
        """Summary rows: how the trial was chosen and, with several objectives, the front."""
        goal = self.run.goal
        sweep = self.run.plan.sweep
        plain = not goal.multi and not goal.constraints and sweep.select == "auto"
        plain = plain and not sweep.recheck_top
        if self.trial is None or self.rule is None or plain:
            return []
        rows = [("selected", self.rule)]
        if self.run.goal.multi:
            members = [f"#{t.number} " + format_params(self._values(t)) for t in self.front]
            rows.append((f"Pareto front ({len(self.front)})", "\n".join(members)))
        return rows


def _plain(value: object) -> bool | int | float | str | None:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


def choose_best(run: Run, study: optuna.Study, trials: list[FrozenTrial]) -> Choice:
    """The trial ``best/`` exports under ``sweep.select`` (see ``automl.results.pareto``)."""
    goal, rule = run.goal, str(run.plan.sweep.select)
    # Complete trials, and trials stopped early at the time budget with their best step:
    # ranked on that step's value, after a complete trial of equal value.
    complete = [t for t in trials if ranked_values(t)]
    choice = Choice(run)
    if not complete:
        return choice
    if not goal.multi and rule == "auto":
        # The leaderboard's rank decides ties too: Optuna's best_trial (the first of equal
        # values) could export another trial than the one ranked 1.
        ranked = rank_rows([row_from_trial(t) for t in complete], goal.directions[0], goal.names[0])
        by_number = {t.number: t for t in complete}
        first = next((r for r in ranked if r.rank == 1), None)
        if first is not None:
            choice.trial = by_number[first.number]
            choice.rule = f"best {goal.names[0]}"
            return choice
    candidates = [
        Candidate(
            t.number,
            tuple(ranked_values(t) or ()),
            goal.unmet(record_of(t).measures()) is None,
            t,
        )
        for t in complete
        if len(ranked_values(t) or ()) == len(goal.names)
    ]
    key = rule if rule == "auto" or rule.startswith("trial:") else _key(rule)
    picked = select(candidates, goal.names, goal.directions, key)
    if isinstance(picked, str):
        choice.why = picked
        return choice
    choice.trial = picked.chosen.item
    choice.rule = picked.rule
    choice.front = [c.item for c in picked.front]
    return choice


def _key(name: str) -> str:
    from automl.core.objectives import metric_key

    return metric_key(name)
