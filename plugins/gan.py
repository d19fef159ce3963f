"""GAN plugin spec: a generator/discriminator pair for images (C x H x W), scored by FD.

The study minimizes ``fd``: the Frechet distance between held-out real images and generated
ones, measured in the feature space of a small classifier trained on the data set's fixed
reference rows (``automl.data.reference_split``; no downloaded weights). The data must be
labelled image data (classification); labels feed that classifier and, when ``conditional``,
the GAN itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from automl_plugins.limits import check

from automl import Choice, Float
from automl.plugin import ModelPlugin

__all__ = ["GANConfig", "PLUGIN", "ARCHS", "LOSSES"]

ARCHS = ("mlp", "conv")
LOSSES = ("bce", "hinge")


@dataclass
class GANConfig:
    """Hyperparameters of the GAN.

    Attributes:
        arch: ``mlp`` (fully connected generator and discriminator) or ``conv``
            (upsampling convolutions in the generator, strided ones in the discriminator).
        latent_dim: Size of the noise vector.
        width: Network width: MLP layers have ``4 * width`` units; conv layers have
            ``width`` and ``2 * width`` channels.
        conditional: Condition both networks on the class label (generator: label
            embedding joined to the noise; discriminator: projection).
        loss: ``bce`` (non-saturating) or ``hinge``.
        spectral_norm: Spectral normalization of the discriminator's layers.
        label_smoothing: Real targets become ``1 - label_smoothing`` (``bce`` only).
        d_dropout: Dropout in the discriminator's hidden layers.
        lr: Generator learning rate (Adam).
        d_lr_scale: Discriminator learning rate = ``lr * d_lr_scale``.
        beta1: Adam's first-moment decay (GANs usually train better below 0.9).
        batch_size: Training mini-batch size.
        ema: Decay of an exponential moving average of the generator's weights, updated
            after every generator step; samples, the FD and the export use the averaged
            generator, whose output drifts far less from epoch to epoch than the raw one
            (so one lucky epoch is not what gets selected). 0 disables it. The decay ramps
            up as ``min(ema, (1 + step) / (10 + step))`` so early steps are not dominated by
            the random initial weights.
    """

    # Defaults: Adam with beta1=0 and a discriminator learning twice as fast (as in SAGAN's
    # two time-scale rule). DCGAN's lr=2e-4, beta1=0.5 mode-collapsed on digits within 30
    # epochs (test FD 1147 against 38 for these values).
    arch: str = "conv"
    latent_dim: int = 64
    width: int = 64
    conditional: bool = False
    loss: str = "bce"
    spectral_norm: bool = False
    label_smoothing: float = 0.0
    d_dropout: float = 0.0
    lr: float = 4e-4
    d_lr_scale: float = 2.0
    beta1: float = 0.0
    batch_size: int = 64
    ema: float = 0.99

    def __post_init__(self) -> None:
        check(
            self,
            latent_dim=">=1",
            width=">=1",
            label_smoothing="[0,1)",
            d_dropout="[0,1)",
            lr=">0",
            d_lr_scale=">0",
            beta1="[0,1)",
            batch_size=">=1",
            ema="[0,1)",
        )


PLUGIN = ModelPlugin(
    name="gan",
    config=GANConfig,
    search_space={
        "arch": Choice(list(ARCHS)),
        "latent_dim": Choice([16, 32, 64]),
        "width": Choice([32, 64, 128]),
        "conditional": Choice([True, False]),
        "loss": Choice(list(LOSSES)),
        "spectral_norm": Choice([True, False]),
        "label_smoothing": Float(0.0, 0.2),
        "d_dropout": Float(0.0, 0.5),
        "lr": Float(5e-5, 3e-3, log=True),
        "d_lr_scale": Float(0.5, 4.0, log=True),
        "beta1": Choice([0.0, 0.5, 0.9]),
        "batch_size": Choice([32, 64, 128]),
    },
    build="automl_plugins.gan_model:build",
    kind="lightning",
    # Trains on labelled images: the labels train the FD feature classifier (and condition
    # the GAN); the objective is the plugin's own metric, not the task's accuracy.
    tasks=("classification",),
    input_ranks=(3,),
    metric="fd",
    metrics=("fd",),  # the Frechet distance only: a GAN has no accuracy and logs no val_loss
    direction="minimize",
    default_data="digits",
    export="automl_plugins.gan_model:export",
    description="GAN (MLP or conv, optionally class-conditional); minimizes Frechet distance",
)
