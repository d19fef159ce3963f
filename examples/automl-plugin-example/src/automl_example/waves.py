"""The ``waves`` data set: noisy sine, square and sawtooth signals (1 x 64), three classes."""

from dataclasses import dataclass

import numpy as np

from automl.data import DataConfig, RawData
from automl.errors import UserError
from automl.plugin import DataPlugin


@dataclass
class WavesConfig(DataConfig):
    """Options of the generated data set (split settings come from DataConfig)."""

    n_samples: int = 1200
    length: int = 64
    noise: float = 0.6


def load(cfg: WavesConfig) -> RawData:
    """Generate the signals (seeded by ``cfg.seed``, so every run sees the same data)."""
    # A bad option is a UserError: automl prints its one line and exits with code 2.
    if cfg.n_samples < 30 or cfg.length < 8 or not cfg.noise >= 0:
        raise UserError(
            f"data.n_samples={cfg.n_samples} data.length={cfg.length} data.noise={cfg.noise}: "
            "waves needs n_samples >= 30, length >= 8 and noise >= 0"
        )
    rng = np.random.default_rng(cfg.seed)
    t = np.linspace(0, 1, cfg.length, dtype=np.float32)
    y = rng.integers(0, 3, cfg.n_samples)
    freq = rng.uniform(2, 6, cfg.n_samples)[:, None]
    phase = rng.uniform(0, 1, cfg.n_samples)[:, None]
    cycles = freq * t[None, :] + phase
    shapes = [np.sin(2 * np.pi * cycles), np.sign(np.sin(2 * np.pi * cycles)), 2 * (cycles % 1) - 1]
    x = np.choose(y[:, None], shapes) + cfg.noise * rng.standard_normal((cfg.n_samples, cfg.length))
    return RawData(
        x=x[:, None, :].astype(np.float32),
        y=y,
        task="classification",
        class_names=("sine", "square", "sawtooth"),
        layout="signal",  # 1 channel of length 64: an RNN reads it as 64 steps
    )


WAVES = DataPlugin(
    name="waves",
    config=WavesConfig,
    load="automl_example.waves:load",
    description="synthetic 1 x 64 waveforms, 3 classes (example plugin)",
)
