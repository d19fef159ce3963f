"""Every key of a composed config must be one its schema declares: a typo is refused, never run.

Hydra merges ``+model.dropuot=0.4`` (or a recipe's misspelt key) into a structured config
without complaint, and OmegaConf drops the key when it builds the dataclass: the study would
run every trial with the setting ignored. ``check_keys`` walks the composed ``model``,
``sweep``, ``trainer`` and ``data`` nodes (and the top level) before anything runs and names
the first key no dataclass field declares, with the closest valid one. Free-form mappings
(``sweep.sampler_args``, ``sweep.slurm.additional``) take any key; the ``space`` is checked
against the model by ``automl.core.space.validate_space``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from automl.core.errors import UserError

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["check_keys", "TOP_LEVEL"]

TOP_LEVEL = ("data", "model", "space", "sweep", "trainer", "plugins", "hydra")
"""The keys of the primary config (``conf/config.yaml``)."""


def _fields(node: DictConfig) -> list[str] | None:
    """The field names of a structured node's dataclass; ``None`` for a free-form mapping."""
    from omegaconf import OmegaConf

    kind = OmegaConf.get_type(node)
    if kind is None or not dataclasses.is_dataclass(kind):
        return None
    return [f.name for f in dataclasses.fields(kind)]


def _refuse(path: str, value: object, valid: Iterable[str], owner: str) -> UserError:
    valid = list(valid)
    name = path.rsplit(".", 1)[-1]
    scope = path.rsplit(".", 1)[0] if "." in path else ""
    prefix = f"{scope}." if scope else ""
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f"did you mean {prefix}{close[0]}?" if close else f"its settings: {', '.join(valid)}"
    shown = _shown(value)
    return UserError(
        f"{path}{shown}: {owner} has no setting '{name}' ({hint}); fix or remove it, nothing "
        "has run"
    )


def _shown(value: object) -> str:
    """``=VALUE`` as the command line writes a scalar; nothing for a mapping, a list or a
    long value."""
    if not isinstance(value, (str, int, float, bool)) and value is not None:
        return ""
    if value is None or isinstance(value, bool):
        text = str(value).lower() if isinstance(value, bool) else "null"
    else:
        text = str(value)
    return f"={text}" if len(text) <= 60 else ""


def _walk(node: DictConfig, path: str, owner: str) -> None:
    """Check ``node`` (and the structured nodes under it) against its dataclass."""
    from omegaconf import DictConfig

    fields = _fields(node)
    for key in map(str, node.keys()):
        child: Any = node._get_node(key)
        where = f"{path}.{key}"
        if fields is not None and key not in fields:
            raise _refuse(where, child._value(), fields, owner)
        if isinstance(child, DictConfig) and not child._is_missing() and not child._is_none():
            _walk(child, where, owner)


def check_keys(
    cfg: Any, model_name: str, data_name: str, auto_keys: Iterable[str] | None = None
) -> None:
    """Raise ``UserError`` for the first key of ``cfg`` that its schema does not declare.

    Args:
        cfg: The composed config (its ``hydra`` node, if present, is Hydra's own).
        model_name: The model option, for messages.
        data_name: The data option, for messages.
        auto_keys: With ``model=auto``: the keys its ``model`` node may have (``families``
            and each family's name); each family's own node is then checked like a model's.

    Raises:
        UserError: Naming the key, the closest valid one and what to do; nothing has run.
    """
    from omegaconf import DictConfig

    for key in map(str, cfg.keys()):
        if key not in TOP_LEVEL:
            raise _refuse(key, cfg._get_node(key)._value(), TOP_LEVEL[:-1], "the config")
    groups = {
        "sweep": "sweep",
        "trainer": "trainer",
        "data": f"data {data_name}",
        "model": f"model {model_name}",
    }
    for group, owner in groups.items():
        node = cfg._get_node(group) if group in cfg else None
        if not isinstance(node, DictConfig) or node._is_missing() or node._is_none():
            continue
        if group == "model" and auto_keys is not None:
            allowed = list(auto_keys)
            for key in map(str, node.keys()):
                child: Any = node._get_node(key)
                if key not in allowed:
                    raise _refuse(f"model.{key}", child._value(), allowed, owner)
                if isinstance(child, DictConfig):
                    _walk(child, f"model.{key}", f"model {key}")
            continue
        _walk(node, group, owner)
