"""Plugin values used by the discovery and failure tests (never installed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from automl.core.plugin import ModelPlugin
from automl.core.space import Choice, Float

raise_on_import = False


@dataclass
class TinyConfig:
    hidden: int = 8
    lr: float = 0.05
    batch_size: int = 64
    optimizer: str = "adam"
    weight_decay: float = 0.0
    explode: bool = False
    crash: bool = False
    diverge: bool = False


GOOD = ModelPlugin(
    name="good",
    config=TinyConfig,
    search_space={"lr": Float(0.01, 0.1, log=True), "hidden": Choice([4, 8])},
    build="fake_model:build",
    tasks=("classification", "regression"),
    input_ranks=(1, 2, 3),
    default_data="wine",
)

# Fails a trial for some sampled configs: NaN metric (explode) or an exception (crash).
FLAKY = ModelPlugin(
    name="flaky",
    config=TinyConfig,
    search_space={"explode": Choice([True, False]), "crash": Choice([True, False])},
    build="fake_model:build",
    tasks=("classification",),
    default_data="wine",
)

# An estimator whose fit needs validation data, so a refit of it fails.
NO_REFIT = ModelPlugin(
    name="no_refit",
    config=TinyConfig,
    search_space={"lr": Float(0.01, 0.1, log=True)},
    build="fake_estimator:build",
    load="fake_estimator:load",
    kind="estimator",
    tasks=("classification",),
    default_data="wine",
)

# An estimator that names its own device (``BaseEstimator.device``).
ON_DEVICE = ModelPlugin(
    name="on_device",
    config=TinyConfig,
    search_space={"lr": Float(0.01, 0.1, log=True)},
    build="fake_estimator:build_on_device",
    load="fake_estimator:load",
    kind="estimator",
    tasks=("classification",),
    default_data="wine",
)

BAD_SPACE = ModelPlugin(
    name="bad_space",
    config=TinyConfig,
    search_space={"lr": Float(1.0, 0.1)},
    build="fake_model:build",
)

FUTURE_API = ModelPlugin(
    name="future_api",
    config=TinyConfig,
    search_space={},
    build="fake_model:build",
    api_version=99,
)

NOT_A_PLUGIN = {"name": "dict"}

# A builder that returns a plain nn.Module (not a LightningModule): caught by the preflight.
NOT_LIGHTNING = ModelPlugin(
    name="not_lightning",
    config=TinyConfig,
    search_space={"lr": Float(0.01, 0.1, log=True)},
    build="fake_model:build_plain",
    default_data="wine",
)

# A builder that says, as a user error, that it cannot be built here.
REFUSES = ModelPlugin(
    name="refuses",
    config=TinyConfig,
    search_space={"lr": Float(0.01, 0.1, log=True)},
    build="fake_model:build_refusing",
    default_data="wine",
)


@dataclass
class CallableConfig:
    """A config OmegaConf cannot store: it has a field of type Callable."""

    lr: float = 0.01
    schedule: Callable[[int], float] | None = None


# Used to pass discovery, then break register_configs (and so every command).
CALLABLE_CONFIG = ModelPlugin(
    name="callable_config",
    config=CallableConfig,
    search_space={"lr": Float(0.001, 0.1, log=True)},
    build="fake_model:build",
)

# "hiden" is not a field of TinyConfig: docs/plugins.md promises a FAILED row.
SPACE_TYPO = ModelPlugin(
    name="space_typo",
    config=TinyConfig,
    search_space={"hiden": Choice([4, 8])},
    build="fake_model:build",
)

# A choice of strings for an int field: cannot fit the config either.
SPACE_WRONG_TYPE = ModelPlugin(
    name="space_wrong_type",
    config=TinyConfig,
    search_space={"hidden": Choice(["small", "large"])},
    build="fake_model:build",
)

# batch_size_field names a field the config lacks.
BATCH_FIELD_TYPO = ModelPlugin(
    name="batch_field_typo",
    config=TinyConfig,
    search_space={},
    build="fake_model:build",
    batch_size_field="batchsize",
)


@dataclass
class LoaderConfig:
    size: int = 12


@dataclass
class NestedBatchConfig:
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    lr: float = 0.05


# The batch size lives at a nested path the plugin declares.
NESTED_BATCH = ModelPlugin(
    name="nested_batch",
    config=NestedBatchConfig,
    search_space={},
    build="fake_model:build",
    batch_size_field="loader.size",
)
