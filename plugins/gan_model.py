"""GAN builder, Frechet distance and sample export (imports torch; loaded only to build a model).

The module trains with Lightning's manual optimization (one discriminator step, then one
generator step per batch) and logs ``val_fd`` once per validation epoch. The feature network
behind the FD is a small classifier, fixed per data set: trained with a fixed seed on the data
set's reference rows (``automl.data.reference_split``: the holdout's, or fold 0's, training
split), the same rows for every fold, trial and refit of that data set, and cached per process
under ``DataSpec.fingerprint``. So fold FDs, validation FDs and the test FD after a refit are
measured on one scale. The network is copied into the module's state, so a saved model is
evaluated the same way after loading, without any data.
"""

from __future__ import annotations

import copy
import hashlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from automl_plugins.gan import ARCHS, LOSSES, GANConfig
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
    "make_grid",
    "write_png",
    "SAMPLES_FILE",
]

FEATURE_DIM = 32
"""Width of the FD feature space: small enough for a few hundred held-out samples to
estimate its covariance."""
FAKE_SAMPLES = 2048
"""Generated images per FD measurement (at least as many as real ones): the real side is
limited by the held-out split, the generated side is not, and more of it lowers the noise a
study would otherwise select on."""
VAL_SEED = 1234
"""Seed of the noise used for validation and export: the FD then tracks the model, not the draw."""
SAMPLES_FILE = "samples.png"
LABEL_DIM = 16

_FEATURE_CACHE: dict[str, dict[str, torch.Tensor]] = {}


# --------------------------------------------------------------------------- Frechet distance


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of feature vectors.

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``. The trace of the matrix square root
    is computed as ``tr((S_a^(1/2) S_b S_a^(1/2))^(1/2))``, a symmetric positive semi-definite
    matrix, so eigenvalues replace ``sqrtm`` of a non-symmetric product: no complex parts,
    and rank-deficient covariances (fewer samples than dimensions) stay finite.

    Args:
        a: ``(n, d)`` features of the first set.
        b: ``(m, d)`` features of the second set.

    Returns:
        The distance (>= 0).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need two (n>=2, d) feature arrays, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    middle = root_a @ cov_b @ root_a
    middle = (middle + middle.T) / 2  # symmetric up to rounding; eigvalsh wants it exact
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)).sum()
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root
    return float(max(value, 0.0))


# --------------------------------------------------------------------------- feature network


class FeatureNet(nn.Module):
    """A small image classifier whose penultimate layer is the FD feature space.

    Args:
        input_shape: ``(C, H, W)``.
        n_classes: Classes of the training labels.
    """

    def __init__(self, input_shape: tuple[int, ...], n_classes: int) -> None:
        super().__init__()
        channels = input_shape[0]
        self.body = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(128, FEATURE_DIM),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(FEATURE_DIM, max(n_classes, 1)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The ``FEATURE_DIM`` features (pre-activation, so they are not sparse)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _fingerprint(x: torch.Tensor, y: torch.Tensor) -> str:
    digest = hashlib.sha1()
    for t in (x, y):
        array = t.detach().cpu().contiguous().numpy()
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _train_feature_net(
    x: torch.Tensor, y: torch.Tensor, n_classes: int, max_steps: int = 1000, seed: int = 0
) -> FeatureNet:
    # 20 epochs of a small net reach ~96% held-out accuracy on digits in about 2 s; large
    # data sets stop at max_steps, since the features need not be state of the art.
    batch = 64
    per_epoch = max(1, math.ceil(len(x) / batch))
    epochs = min(20, max(1, math.ceil(max_steps / per_epoch)))
    # A private RNG state: the same data gives the same network in any process, and the
    # caller's (the GAN trial's) random stream is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = FeatureNet(tuple(x.shape[1:]), n_classes).to(x.device)
        order_rng = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
        net.train()
        with torch.enable_grad():
            for _ in range(epochs):
                order = torch.randperm(len(x), generator=order_rng).to(x.device)
                for start in range(0, len(x), batch):
                    idx = order[start : start + batch]
                    loss = F.cross_entropy(net(x[idx]), y[idx].long())
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
    net.eval()
    return net


def feature_net_for(
    x: torch.Tensor, y: torch.Tensor, n_classes: int, key: str | None = None
) -> dict[str, torch.Tensor]:
    """Weights of the FD feature network trained on ``(x, y)``, once per process and key.

    Args:
        x: Training images ``(N, C, H, W)``.
        y: Their class labels.
        n_classes: Number of classes.
        key: Names the data (``DataSpec.fingerprint``); default: a hash of ``x`` and ``y``.

    Returns:
        A ``state_dict`` for ``FeatureNet(x.shape[1:], n_classes)`` (CPU tensors).
    """
    key = f"{key or _fingerprint(x, y)}:{n_classes}:{tuple(x.shape[1:])}"
    if key not in _FEATURE_CACHE:
        net = _train_feature_net(x, y, n_classes)
        _FEATURE_CACHE[key] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return _FEATURE_CACHE[key]


def feature_net_for_data(
    fingerprint: str | None, x: torch.Tensor, y: torch.Tensor, n_classes: int
) -> dict[str, torch.Tensor]:
    """The FD feature network of a data set: trained on its reference rows when this process
    loaded it (``automl.data.reference_split``), else on ``(x, y)``, the fit's training rows
    (data handed over without ``automl.data``, e.g. in a test)."""
    from automl.data import reference_split

    reference = reference_split(fingerprint)
    if reference is None or tuple(reference.x.shape[1:]) != tuple(x.shape[1:]):
        return feature_net_for(x, y, n_classes)
    ref_x = torch.as_tensor(reference.x, dtype=torch.float32, device=x.device)
    ref_y = torch.as_tensor(reference.y, device=x.device)
    return feature_net_for(ref_x, ref_y, n_classes, key=fingerprint)


def _training_tensors(loader: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``(x, y)`` of a training iterable, without disturbing its shuffling when possible."""
    x, y = getattr(loader, "x", None), getattr(loader, "y", None)
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return x, y  # automl's TensorBatches: the tensors themselves, no pass over the data
    xs, ys = zip(*((bx, by) for bx, by in loader), strict=True)
    return torch.cat(xs), torch.cat(ys)


# --------------------------------------------------------------------------- networks


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
