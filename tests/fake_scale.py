"""Model plugins that misbehave the way GPU work does, for the scale-out tests (never installed).

``stuck``: the first trial to train (of any worker: a marker file decides) blocks SIGALRM and
sleeps, as a C call that never returns to Python would: only its parent can stop it.
``oom``: the first trial to train raises ``torch.cuda.OutOfMemoryError`` when ``oom_once`` is
set; with ``oom_always`` every trial does.
``gated``: every trial waits, before it trains, until the file ``AUTOML_TEST_GATE`` names
exists (a test decides when trials may finish).
"""

from __future__ import annotations

from dataclasses import dataclass

from automl.core.plugin import ModelPlugin
from automl.core.space import Float


@dataclass
class ScaleConfig:
    lr: float = 0.05
    oom_once: bool = False
    oom_always: bool = False


STUCK = ModelPlugin(
    name="stuck",
    config=ScaleConfig,
    search_space={"lr": Float(0.01, 0.1, log=True)},
    build="fake_scale_model:build_stuck",
    load="fake_scale_model:load",
    kind="estimator",
    tasks=("classification",),
    default_data="wine",
)

OOM = ModelPlugin(
    name="oom",
    config=ScaleConfig,
    search_space={"lr": Float(0.01, 0.1, log=True)},
    build="fake_scale_model:build_oom",
    load="fake_scale_model:load",
    kind="estimator",
    tasks=("classification",),
    default_data="wine",
)

GATED = ModelPlugin(
    name="gated",
    config=ScaleConfig,
    search_space={"lr": Float(0.01, 0.1, log=True)},
    build="fake_scale_model:build_gated",
    load="fake_scale_model:load",
    kind="estimator",
    tasks=("classification",),
    default_data="wine",
)
