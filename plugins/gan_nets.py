"""The GAN's generator and discriminator networks, MLP or convolutional (imports torch)."""

from __future__ import annotations

import math

import torch
from automl_plugins.gan import GANConfig
from torch import nn

__all__ = ["Generator", "Discriminator", "LABEL_DIM"]

LABEL_DIM = 16


def _dense(layer: nn.Module, spectral: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(layer) if spectral else layer


class Generator(nn.Module):
    """Noise (and a label) to an unbounded image; ``GANModule`` maps it into the data range."""

    def __init__(self, cfg: GANConfig, shape: tuple[int, ...], n_classes: int | None) -> None:
        super().__init__()
        self.shape = shape
        self.embed = nn.Embedding(n_classes, LABEL_DIM) if n_classes else None
        z_dim = cfg.latent_dim + (LABEL_DIM if n_classes else 0)
        channels, height, width = shape
        if cfg.arch == "mlp":
            hidden = 4 * cfg.width
            self.net = nn.Sequential(
                nn.Linear(z_dim, hidden),
                nn.LeakyReLU(0.2),
                nn.Linear(hidden, 2 * hidden),
                nn.LeakyReLU(0.2),
                nn.Linear(2 * hidden, channels * height * width),
            )
        else:
            h0, w0 = math.ceil(height / 4), math.ceil(width / 4)
            base = 2 * cfg.width
            self.net = nn.Sequential(
                nn.Linear(z_dim, base * h0 * w0),
                nn.Unflatten(1, (base, h0, w0)),
                nn.BatchNorm2d(base),
                nn.ReLU(),
                nn.Upsample(scale_factor=2),
                nn.Conv2d(base, cfg.width, 3, padding=1),
                nn.BatchNorm2d(cfg.width),
                nn.ReLU(),
                nn.Upsample(scale_factor=2),
                nn.Conv2d(cfg.width, cfg.width, 3, padding=1),
                nn.BatchNorm2d(cfg.width),
                nn.ReLU(),
                nn.Conv2d(cfg.width, channels, 3, padding=1),
            )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass labels")
            z = torch.cat([z, self.embed(labels.long())], dim=1)
        out = self.net(z)
        if out.dim() == 2:  # the MLP's flat output
            return out.view(len(z), *self.shape)
        # Conv upsampling gives 4 * ceil(H / 4) rows; crop to the data's size.
        return out[:, :, : self.shape[1], : self.shape[2]]


class Discriminator(nn.Module):
    """Image (and a label, by projection) to one real/fake score."""

    def __init__(self, cfg: GANConfig, shape: tuple[int, ...], n_classes: int | None) -> None:
        super().__init__()
        sn = cfg.spectral_norm
        channels = shape[0]
        if cfg.arch == "mlp":
            hidden = 4 * cfg.width
            self.body = nn.Sequential(
                nn.Flatten(),
                _dense(nn.Linear(math.prod(shape), hidden), sn),
                nn.LeakyReLU(0.2),
                nn.Dropout(cfg.d_dropout),
                _dense(nn.Linear(hidden, hidden), sn),
                nn.LeakyReLU(0.2),
                nn.Dropout(cfg.d_dropout),
            )
        else:
            self.body = nn.Sequential(
                _dense(nn.Conv2d(channels, cfg.width, 3, stride=2, padding=1), sn),
                nn.LeakyReLU(0.2),
                nn.Dropout(cfg.d_dropout),
                _dense(nn.Conv2d(cfg.width, 2 * cfg.width, 3, stride=2, padding=1), sn),
                nn.LeakyReLU(0.2),
                nn.Dropout(cfg.d_dropout),
                nn.Flatten(),
            )
        with torch.no_grad():
            n_features = self.body(torch.zeros(2, *shape)).shape[1]
        self.out = _dense(nn.Linear(n_features, 1), sn)
        self.embed = _dense(nn.Embedding(n_classes, n_features), sn) if n_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)
        score = self.out(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("this discriminator is class-conditional: pass labels")
            score = score + (self.embed(labels.long()) * h).sum(dim=1)
        return score
