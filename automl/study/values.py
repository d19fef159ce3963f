"""The model's own check of its values, before any trial: the config, and each end of the space.

A model plugin refuses a value it cannot train with by raising ``ValueError`` (or
``UserError``) from its config dataclass's ``__post_init__`` (docs/plugins.md). Trials build
the config from the searched values, so without a check here ``model.hidden=0`` or
``space.dropout.high=1.5`` would fail trial after trial. ``check_values`` builds the config
once with the user's values, and once per value the space can reach at its ends (each
range's ``low`` and ``high``, each choice), and turns the plugin's refusal into one line
naming the setting to change.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from automl.core.errors import PluginError, UserError
from automl.core.space import Choice, Fixed, Param

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["check_values"]

_FIELD = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)=")


def _named(prefix: str, message: str) -> str:
    """``hidden=0 must be >= 1`` -> ``model.hidden=0 must be >= 1`` (the setting's full name)."""
    return f"{prefix}.{message}" if _FIELD.match(message) else message


def _build(node: DictConfig) -> None:
    from omegaconf import OmegaConf

    OmegaConf.to_object(node)


def _ends(param: Param) -> list[Any]:
    """The values a parameter reaches at its ends: a range's bounds, every choice."""
    if isinstance(param, Choice):
        return list(param.options)
    if isinstance(param, Fixed):
        return [param.value]
    return [param.low, param.high]


def check_values(owner: str, prefix: str, node: DictConfig, space: Mapping[str, Param]) -> None:
    """Build the model config from ``node``, then with each end of ``space``.

    Args:
        owner: The model, for messages (``model mlp``).
        prefix: Where its settings live on the command line (``model``, ``model.mlp``).
        node: The model's config (structured ``DictConfig``), pinned values applied.
        space: The searched parameters (dotted config paths).

    Raises:
        UserError: The plugin refused a value: which setting, what it says is valid.
        PluginError: The config's check itself failed (a bug in the plugin).
    """
    try:
        _build(node)
    except (ValueError, UserError) as exc:
        raise UserError(
            f"{_named(prefix, str(exc))} ({owner} refuses it); set a valid value, nothing has run"
        ) from None
    except Exception as exc:
        raise PluginError(
            f"{owner}: its config check failed ({type(exc).__name__}: {exc})"
        ) from exc
    from omegaconf import OmegaConf

    probe = copy.deepcopy(node)  # one copy, each value set and put back (a copy per value
    # cost most of a model=auto plan)
    for name, param in space.items():
        before = OmegaConf.select(probe, name)
        for value in _ends(param):
            try:
                OmegaConf.update(probe, name, value, merge=True)
                _build(probe)
            except (ValueError, UserError) as exc:
                shown = "null" if value is None else value
                raise UserError(
                    f"space.{name} reaches {shown}, which {owner} refuses "
                    f"({_named(prefix, str(exc))}); narrow space.{name} (or pin it with "
                    f"space.{name}=VALUE), nothing has run"
                ) from None
            except Exception:
                continue  # a type the field refuses: validate_space names it
        OmegaConf.update(probe, name, before, merge=False)
