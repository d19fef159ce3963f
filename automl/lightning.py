"""Public import path for SupervisedModule for torch plugins (docs/plugins.md).

The code lives in ``automl.backends.supervised``; this module re-exports every
name of its ``__all__``, so code written against the documented path keeps working.
Nothing inside automl imports it.
Importing it imports torch and Lightning.
"""

from automl.backends.supervised import *  # noqa: F403
from automl.backends.supervised import __all__ as __all__
