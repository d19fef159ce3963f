"""How the leaderboard writes values: metrics, durations, parameters (in full for log lines,
packed under short names into a table cell), and text wrapped to a width."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from automl.results.leaderboard.rows import Row


def _fmt_value(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def fmt_value_of(key: str, value: float | None) -> str:
    """An objective's value: a count (``n_params``) as an integer, others as metrics."""
    if key == "n_params" and value is not None and math.isfinite(value):
        return str(int(value))
    return fmt_metric(value)


def fmt_metric(value: float | None) -> str:
    """A metric with 4 decimals (``-`` when missing)."""
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"


def format_params(params: Mapping[str, Any], limit: int | None = None) -> str:
    """``lr=0.0021 depth=2 ...``: every parameter, full names (log lines, the summary)."""
    text = " ".join(f"{k}={_fmt_value(v)}" for k, v in params.items())
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


# Short forms of the parameter names the built-in models search; other names are shortened
# by rule (see ``short_names``).
_SHORT = {
    "learning_rate": "lr",
    "weight_decay": "wd",
    "batch_size": "bs",
    "dropout": "drop",
    "optimizer": "opt",
    "activation": "act",
    "kernel_size": "ks",
    "batch_norm": "bn",
    "channels": "ch",
    "hidden": "hid",
    "layers": "lay",
    "max_depth": "depth",
    "min_child_weight": "mcw",
    "colsample_bytree": "colsmp",
    "subsample": "subsmp",
    "reg_lambda": "lambda",
    "reg_alpha": "alpha",
    "n_estimators": "n_est",
    "max_features": "maxf",
    "min_samples_leaf": "msl",
    "min_samples_split": "mss",
    "hidden_size": "hid",
    "num_layers": "lay",
    "latent_dim": "z",
    "bidirectional": "bidir",
}


def short_names(names: Iterable[str]) -> dict[str, str]:
    """A short, unique display name for each parameter name.

    Known names get their usual abbreviation (``weight_decay`` -> ``wd``); other names keep
    their last dotted part, and when that is longer than 8 characters, the initials of its
    ``_``-separated words (``min_samples_leaf`` -> ``msl``) or its first 6 characters. A name
    whose short form is taken keeps its full name.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        last = name.rsplit(".", 1)[-1]
        short = _SHORT.get(last)
        if short is None:
            parts = [p for p in last.split("_") if p]
            if len(last) <= 8:
                short = last
            elif len(parts) > 1:
                short = "".join(p[0] for p in parts)
            else:
                short = last[:6]
        if short in used:
            short = name
        used.add(short)
        out[name] = short
    return out


def _short_value(value: object) -> str:
    """3 significant digits for floats (``0.00123``, ``1.2e-5``), ``yes``/``no`` for bools."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = f"{value:.3g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}e{int(exponent)}"
        return text
    text = str(value)
    return text if len(text) <= 10 else text[:9] + "…"


def param_order(rows: Sequence[Row]) -> list[str]:
    """Parameter names in the search space's order: as the trials, by number, first name them.

    The order depends on nothing that changes as trials finish (a name a later trial brings,
    e.g. another family's, is added at the end), so a parameter keeps its place in the table
    from one redraw to the next and from row to row; ``+N`` counts the last ones.
    """
    names: dict[str, None] = {}
    for row in sorted(rows, key=lambda r: r.number):
        for name in row.params:
            names.setdefault(name, None)
    return list(names)


def compact_params(
    params: Mapping[str, Any],
    order: Sequence[str],
    short: Mapping[str, str],
    width: int,
    lines: int,
) -> str:
    """Parameters packed into at most ``lines`` lines of ``width`` characters.

    Names are shortened (``short``), values kept to 3 significant digits, and parameters
    are taken in ``order``; those that do not fit are elided with a count (``+3``).
    """
    width = max(width, 6)
    tokens = [f"{short.get(n, n)}={_short_value(params[n])}" for n in order if n in params]
    tokens += [
        f"{short.get(n, n)}={_short_value(v)}" for n, v in params.items() if n not in set(order)
    ]
    tokens = [t if len(t) <= width else t[: width - 1] + "…" for t in tokens]
    out: list[list[str]] = [[]]
    used = 0
    for i, token in enumerate(tokens):
        need = len(token) + (1 if out[-1] else 0)
        if used + need > width:
            if len(out) == lines:
                return _close(out, len(tokens) - i, width)
            out.append([])
            used, need = 0, len(token)
        out[-1].append(token)
        used += need
    return "\n".join(" ".join(line) for line in out)


def _close(out: list[list[str]], left: int, width: int) -> str:
    """End the last line with ``+N``, dropping its tokens until the count fits."""
    last = out[-1]
    while True:
        more = f"+{left}"
        if len(" ".join([*last, more])) <= width or not last:
            break
        last.pop()
        left += 1
    last.append(f"+{left}")
    return "\n".join(" ".join(line) for line in out)


def wrap(text: str, width: int, lines: int) -> str:
    """Word-wrap ``text`` into at most ``lines`` lines of ``width``; an ellipsis ends the rest."""
    words, out, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            out.append(line)
        line = word
        while len(line) > width:
            out.append(line[:width])
            line = line[width:]
    if line:
        out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return "\n".join(out)


def trials(n: int) -> str:
    """``1 trial``, ``2 trials``."""
    return f"{n} trial" if n == 1 else f"{n} trials"


def fmt_seconds(seconds: float | None) -> str:
    """``12.3s``, ``4m05s`` or ``2h07m`` (``-`` when unknown)."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes}m{sec:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"
