"""GAN builder and sample export (imports torch; loaded only to build a model).

The module trains with Lightning's manual optimization (one discriminator step, then one
generator step per batch) and logs ``val_fd`` once per validation epoch: the Frechet distance
in the feature space of a network fixed per data set (``automl_plugins.gan_fd``). The network
is copied into the module's state, so a saved model is evaluated the same way after loading,
without any data. The generator and discriminator are in ``automl_plugins.gan_nets``.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from automl_plugins.gan import ARCHS, LOSSES, GANConfig
from automl_plugins.gan_fd import (
    FEATURE_DIM,
    FeatureNet,
    feature_net_for,
    feature_net_for_data,
    frechet_distance,
)
from automl_plugins.gan_nets import Discriminator, Generator
from torch import nn
from torch.nn import functional as F

from automl.plugin import DataSpec

__all__ = [
    "GANModule",
    "FeatureNet",
    "build",
    "export",
    "frechet_distance",
    "feature_net_for",
    "feature_net_for_data",
    "make_grid",
    "write_png",
    "SAMPLES_FILE",
    "FEATURE_DIM",
]

FAKE_SAMPLES = 2048
"""Generated images per FD measurement (at least as many as real ones): the real side is
limited by the held-out split, the generated side is not, and more of it lowers the noise a
study would otherwise select on."""
VAL_SEED = 1234
"""Seed of the noise used for validation and export: the FD then tracks the model, not the draw."""
SAMPLES_FILE = "samples.png"


def _training_tensors(loader: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``(x, y)`` of a training iterable, without disturbing its shuffling when possible."""
    x, y = getattr(loader, "x", None), getattr(loader, "y", None)
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return x, y  # automl's TensorBatches: the tensors themselves, no pass over the data
    xs, ys = zip(*((bx, by) for bx, by in loader), strict=True)
    return torch.cat(xs), torch.cat(ys)


# --------------------------------------------------------------------------- Lightning module


class GANModule(pl.LightningModule):
    """Generator and discriminator trained adversarially; validation logs ``val_fd``.

    Args:
        cfg: The plugin config.
        spec: The data description (``C x H x W`` images with class labels).
    """

    def __init__(self, cfg: GANConfig, spec: DataSpec) -> None:
        super().__init__()
        if spec.rank != 3:
            raise ValueError(f"gan needs C x H x W images, got shape {spec.input_shape}")
        if cfg.arch not in ARCHS:
            raise ValueError(f"arch {cfg.arch!r} is not one of {', '.join(ARCHS)}")
        if cfg.loss not in LOSSES:
            raise ValueError(f"loss {cfg.loss!r} is not one of {', '.join(LOSSES)}")
        self.automatic_optimization = False
        self.cfg = cfg
        self.shape = tuple(spec.input_shape)
        self.n_classes = int(spec.n_classes or 1)
        self.data_fingerprint = spec.fingerprint
        self.conditional = bool(cfg.conditional)
        cond = self.n_classes if self.conditional else None
        self.generator = Generator(cfg, self.shape, cond)
        # The averaged copy generates every sample that is measured or exported.
        self.generator_ema = (
            copy.deepcopy(self.generator).requires_grad_(False) if cfg.ema > 0 else None
        )
        self.register_buffer("ema_steps", torch.tensor(0, dtype=torch.long))
        self.discriminator = Discriminator(cfg, self.shape, cond)
        self.feature_net = FeatureNet(self.shape, self.n_classes).requires_grad_(False)
        channels = self.shape[0]
        # The data range per channel, learnt from the training split and saved with the
        # weights: generated pixels are squashed into it, so a loaded model needs no data.
        self.register_buffer("data_low", torch.zeros(channels))
        self.register_buffer("data_high", torch.ones(channels))
        self.register_buffer("feature_ready", torch.tensor(False))
        self._ema_step = 0  # host copy of ema_steps: reading the buffer would sync the GPU
        self._real_features: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []

    # -- generation
    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images for noise ``z`` (and class ``labels`` when conditional), in the data range.

        Uses the weight-averaged generator when ``ema`` is on, the trained one otherwise.
        """
        generator = self.generator if self.generator_ema is None else self.generator_ema
        return self._images(generator, z, labels)

    def _images(
        self, generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        raw = generator(z, labels if self.conditional else None)
        low = self.data_low.view(1, -1, 1, 1)
        high = self.data_high.view(1, -1, 1, 1)
        return low + (high - low) * torch.sigmoid(raw)

    def noise(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` latent vectors on the module's device, from a seeded generator if asked.

        Unseeded noise (every training step) is drawn on the device itself: drawing it on the
        CPU and copying it over would make the host wait for the GPU once per step.
        """
        if seed is None:
            return torch.randn(n, self.cfg.latent_dim, device=self.device)
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.cfg.latent_dim, generator=gen).to(self.device)

    @torch.no_grad()
    def sample(
        self, n: int, labels: torch.Tensor | None = None, seed: int = VAL_SEED
    ) -> torch.Tensor:
        """``n`` images from fixed noise (eval mode): the same model gives the same images.

        Args:
            n: Number of images.
            labels: Classes for a conditional model; default cycles ``0, 1, ..``.
            seed: Noise seed.
        """
        was_training = self.training
        self.eval()  # batch norm uses running statistics, so samples do not depend on n
        if labels is None:
            labels = torch.arange(n) % self.n_classes
        images = self(self.noise(n, seed), labels.to(self.device))
        self.train(was_training)
        return images

    # -- training
    def on_train_start(self) -> None:
        # Lightning sets the training iterable up after on_fit_start, so data is read here.
        x, y = _training_tensors(self.trainer.train_dataloader)
        x = x.to(self.device, torch.float32)
        y = y.to(self.device)
        dims = [0, 2, 3]
        self.data_low.copy_(x.amin(dim=dims))
        self.data_high.copy_(torch.maximum(x.amax(dim=dims), self.data_low + 1e-3))
        self.feature_net.load_state_dict(
            feature_net_for_data(self.data_fingerprint, x, y, self.n_classes)
        )
        self.feature_ready.fill_(True)
        self._ema_step = int(self.ema_steps)  # one read per fit, not one per step

    def _d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.cfg.loss == "hinge":
            return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
        target = torch.full_like(real, 1.0 - self.cfg.label_smoothing)
        return F.binary_cross_entropy_with_logits(
            real, target
        ) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))

    def _g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        if self.cfg.loss == "hinge":
            return -fake.mean()
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))  # non-saturating

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        labels = y if self.conditional else None
        opt_g, opt_d = self.optimizers()
        fake = self._images(self.generator, self.noise(len(x)), labels)

        d_loss = self._d_loss(
            self.discriminator(x, labels), self.discriminator(fake.detach(), labels)
        )
        opt_d.zero_grad()
        self.manual_backward(d_loss)
        opt_d.step()

        g_loss = self._g_loss(self.discriminator(fake, labels))
        opt_g.zero_grad()
        self.manual_backward(g_loss)
        opt_g.step()
        self._update_ema()

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.generator_ema is None:
            return
        step = self._ema_step
        decay = min(self.cfg.ema, (1 + step) / (10 + step))
        averaged = list(self.generator_ema.parameters())
        torch._foreach_lerp_(averaged, list(self.generator.parameters()), 1.0 - decay)
        # Batch-norm running statistics are already averages: copied, not averaged again.
        pairs = zip(self.generator_ema.buffers(), self.generator.buffers(), strict=True)
        for mine, theirs in pairs:
            mine.copy_(theirs)
        self.ema_steps += 1  # on the device, asynchronously
        self._ema_step += 1

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        betas = (self.cfg.beta1, 0.999)
        return [
            torch.optim.Adam(self.generator.parameters(), lr=self.cfg.lr, betas=betas),
            torch.optim.Adam(
                self.discriminator.parameters(), lr=self.cfg.lr * self.cfg.d_lr_scale, betas=betas
            ),
        ]

    # -- validation: FD between the real batches given and as many generated images
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self._check_ready()
        self._real_features.append(self.feature_net.features(x.float()))
        self._labels.append(y)

    def on_validation_epoch_end(self) -> None:
        real = torch.cat(self._real_features)
        labels = torch.cat(self._labels)
        self._real_features.clear()
        self._labels.clear()
        # Generated labels repeat the real ones, so both sides have the same class mix.
        n_fake = max(len(labels), FAKE_SAMPLES)
        labels = labels.repeat(math.ceil(n_fake / len(labels)))[:n_fake]
        fake = []
        for start in range(0, n_fake, 1024):
            part = labels[start : start + 1024]
            images = self.sample(len(part), part, seed=VAL_SEED + start)
            fake.append(self.feature_net.features(images))
        fd = frechet_distance(real.cpu().numpy(), torch.cat(fake).cpu().numpy())
        self.log("val_fd", fd, prog_bar=False)

    def _check_ready(self) -> None:
        if not bool(self.feature_ready):
            raise RuntimeError(
                "the GAN's FD feature network is not trained: fit the model first, or load "
                "the weights of a trained one (automl.train.load_model)"
            )


def build(cfg: GANConfig, spec: DataSpec) -> GANModule:
    """The Lightning module the trainer fits."""
    return GANModule(cfg, spec)


# --------------------------------------------------------------------------- export


def make_grid(images: np.ndarray, nrow: int, scale: int = 1, pad: int = 2) -> np.ndarray:
    """Tile ``(N, C, H, W)`` images in ``[0, 1]`` into one ``uint8`` picture.

    Args:
        images: The images, values in ``[0, 1]``; ``C`` is 1 (grey) or 3 (RGB); other channel
            counts are shown as their mean.
        nrow: Images per row.
        scale: Integer upscaling of each image (nearest neighbour).
        pad: Pixels of black between images and around the grid.

    Returns:
        ``(rows * (H*scale + pad) + pad, nrow * (W*scale + pad) + pad)`` grey, or with a
        trailing axis of 3 for RGB.
    """
    images = np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0)
    n, channels, height, width = images.shape
    if channels not in (1, 3):
        images, channels = images.mean(axis=1, keepdims=True), 1
    images = images.repeat(scale, axis=2).repeat(scale, axis=3)
    th, tw = height * scale, width * scale
    rows = math.ceil(n / nrow)
    grid = np.zeros((channels, rows * (th + pad) + pad, nrow * (tw + pad) + pad))
    for i, image in enumerate(images):
        r, c = divmod(i, nrow)
        top, left = pad + r * (th + pad), pad + c * (tw + pad)
        grid[:, top : top + th, left : left + tw] = image
    out = np.round(grid * 255).astype(np.uint8)
    return out[0] if channels == 1 else out.transpose(1, 2, 0)


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Write an 8-bit grey ``(H, W)`` or RGB ``(H, W, 3)`` array as a PNG, atomically (Pillow)."""
    from PIL import Image

    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    image = Image.fromarray(pixels)  # uint8 (H, W) is mode L, (H, W, 3) is RGB
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format="PNG")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export(model: GANModule, directory: str, spec: DataSpec) -> str:
    """Write ``samples.png``: a 10 x 10 grid of generated images from fixed noise.

    For a conditional model row ``i`` shows class ``i`` (cycling when there are fewer than 10
    classes). Small images are upscaled so the tiles are at least 32 pixels on a side.

    Returns:
        The path of the PNG.
    """
    nrow = 10
    if model.conditional:
        labels = torch.arange(nrow * nrow) // nrow % model.n_classes
    else:
        labels = torch.zeros(nrow * nrow, dtype=torch.long)
    images = model.sample(nrow * nrow, labels, seed=VAL_SEED)
    low = model.data_low.view(1, -1, 1, 1)
    high = model.data_high.view(1, -1, 1, 1)
    unit = ((images - low) / (high - low)).cpu().numpy()
    scale = max(1, math.ceil(32 / max(spec.input_shape[1:])))
    path = Path(directory) / SAMPLES_FILE
    write_png(path, make_grid(unit, nrow, scale=scale))
    return str(path)
