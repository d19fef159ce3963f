"""Public import path for SupervisedModule for torch plugins (docs/plugins.md).

The code lives in ``automl.backends.supervised``; this module only re-exports it, so code written
against
the documented path keeps working. Nothing inside automl imports this module.
Importing it imports torch and Lightning.
"""

from automl.backends.supervised import (
    BatchAugment,
    SupervisedModule,
    TensorBatches,
    make_augment,
    make_optimizer,
)

__all__ = [
    "SupervisedModule",
    "TensorBatches",
    "BatchAugment",
    "make_augment",
    "make_optimizer",
]
