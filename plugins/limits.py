"""The value checks of the built-in plugins' configs, called from each config's ``__post_init__``.

A plugin refuses a value it cannot train with by raising ``ValueError`` from its config's
``__post_init__`` (docs/plugins.md): automl builds the config once before the study, and once
more at each end of every searched range, so ``model.hidden=0`` or ``space.dropout.high=1.5``
is one line before any trial. Messages start with ``FIELD=VALUE`` so automl can name the
setting (``model.hidden=0 must be >= 1``).

A rule is a bound (``">=1"``, ``">0"``, ``"<=1"``) or an interval (``"[0,1)"``, ``"(0,1]"``);
``None`` always passes (a field whose ``None`` means "the library's default").
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["check", "one_of"]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_BOUND = re.compile(r"(>=|>|<=|<)\s*([-+0-9.eE]+)")
_INTERVAL = re.compile(r"([\[(])\s*([-+0-9.eE]+)\s*,\s*([-+0-9.eE]+)\s*([\])])")


def _holds(value: Any, rule: str) -> tuple[bool, str]:
    """Whether ``value`` meets ``rule``, and the rule in words for the message."""
    bound = _BOUND.fullmatch(rule)
    if bound:
        op, limit = bound.group(1), float(bound.group(2))
        return _OPS[op](value, limit), f"{op} {limit:g}"
    interval = _INTERVAL.fullmatch(rule)
    if interval is None:
        raise ValueError(f"rule {rule!r} is neither a bound (>=1) nor an interval ([0,1))")
    left, low, high, right = interval.groups()
    low_ok = value >= float(low) if left == "[" else value > float(low)
    high_ok = value <= float(high) if right == "]" else value < float(high)
    return low_ok and high_ok, f"in {left}{float(low):g}, {float(high):g}{right}"


def check(cfg: Any, **rules: str) -> None:
    """Raise ``ValueError`` (``FIELD=VALUE must be RULE``) for the first field that breaks its rule.

    Example: ``check(self, hidden=">=1", dropout="[0,1)", lr=">0")``.
    """
    for name, rule in rules.items():
        value = getattr(cfg, name)
        if value is None or isinstance(value, bool):
            continue
        ok, words = _holds(value, rule)
        if not ok:
            raise ValueError(f"{name}={value} must be {words}")


def one_of(cfg: Any, name: str, options: Iterable[Any]) -> None:
    """Raise ``ValueError`` unless field ``name`` is one of ``options``."""
    options = list(options)
    value = getattr(cfg, name)
    if value not in options:
        shown = ", ".join("null" if o is None else str(o) for o in options)
        raise ValueError(f"{name}={value!r} is not one of {shown}")
