"""The TCN builder: imported only when automl builds a model, so torch loads only then."""

from torch import nn

from automl.lightning import SupervisedModule


class Block(nn.Module):
    """Dilated convolution + residual connection."""

    def __init__(self, cin: int, cout: int, kernel: int, dilation: int, dropout: float):
        super().__init__()
        pad = (kernel - 1) * dilation // 2
        self.conv = nn.Sequential(
            nn.Conv1d(cin, cout, kernel, padding=pad, dilation=dilation),
            nn.BatchNorm1d(cout),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        return self.conv(x) + self.skip(x)


def build(cfg, spec):
    """Return the LightningModule automl trains: (C x L) signals -> class logits."""
    channels_in = spec.input_shape[0]
    blocks = []
    for level in range(cfg.levels):
        blocks.append(Block(channels_in, cfg.channels, cfg.kernel_size, 2**level, cfg.dropout))
        channels_in = cfg.channels
    net = nn.Sequential(
        *blocks, nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(cfg.channels, spec.n_classes)
    )
    return SupervisedModule(net, spec, cfg.lr, cfg.weight_decay, cfg.optimizer)
