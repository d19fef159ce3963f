"""Data: built-in sets, user files (npz, csv, image folders), splits, preprocessing, the cache.

The file formats are data plugins like any other (``automl.data.npz``, ``automl.data.table``,
``automl.data.images``); see ``docs/data.md``. It may import only ``automl.core``: data
never sees a model, a study or a result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from automl.data.reference import clear_references, reference_split
from automl.data.types import DataConfig, Dataset, RawData, Split

if TYPE_CHECKING:
    from automl.core.plugin import DataPlugin

__all__ = [
    "DataConfig",
    "RawData",
    "Split",
    "Dataset",
    "load_dataset",
    "clear_cache",
    "reference_split",
]

_CACHE: dict[str, Dataset] = {}


def load_dataset(plugin: DataPlugin, cfg: object) -> Dataset:
    """Load, split and preprocess a data set once per process.

    Args:
        plugin: The ``DataPlugin``.
        cfg: Its config (a dataclass instance or a ``DictConfig``).

    Returns:
        A cached ``Dataset``; every trial of the process gets the same object.

    Raises:
        UserError: The data cannot be used as configured (the plugin's own message).
        PluginCodeError: The plugin's ``load`` raised anything else.
    """
    from omegaconf import OmegaConf

    from automl.core.plugin_code import call_plugin
    from automl.core.registry import DATA_GROUP
    from automl.data.split import make_dataset

    node = OmegaConf.structured(cfg) if not OmegaConf.is_config(cfg) else cfg
    key = f"{plugin.name}:{OmegaConf.to_yaml(node)}"
    if key not in _CACHE:
        from automl.data.digest import data_digest

        obj: Any = OmegaConf.to_object(node) if OmegaConf.is_config(node) else node
        # The plugin's own code: what it raises is one line naming it (a UserError it raises
        # to say a setting is wrong reaches the user as written).
        raw = call_plugin(DATA_GROUP, plugin.name, "load", plugin.load, obj)
        dataset = make_dataset(plugin.name, raw, obj)
        dataset.digest, dataset.source = data_digest(raw), raw.source
        if raw.summary is not None or raw.notes:
            from automl.data.summary import attach_summary

            attach_summary(dataset, raw)
        _CACHE[key] = dataset
    return _CACHE[key]


def clear_cache() -> None:
    """Forget loaded data sets (tests use it to measure a cold load)."""
    _CACHE.clear()
    clear_references()
