"""The GAN's Frechet distance (FD) and the feature network it is measured in (imports torch).

The feature network is a small classifier, fixed per data set: trained with a fixed seed on
the data set's reference rows (``automl.data.reference_split``: the holdout's, or fold 0's,
training split), the same rows for every fold, trial and refit of that data set, and cached
per process under ``DataSpec.fingerprint``. So fold FDs, validation FDs and the test FD after
a refit are measured on one scale.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "FeatureNet",
    "frechet_distance",
    "feature_net_for",
    "feature_net_for_data",
    "FEATURE_DIM",
]

FEATURE_DIM = 32
"""Width of the FD feature space: small enough for a few hundred held-out samples to
estimate its covariance."""

_FEATURE_CACHE: dict[str, dict[str, torch.Tensor]] = {}


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
