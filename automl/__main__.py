"""``python -m automl``: the command line (``automl.cli.main``)."""

from __future__ import annotations

import sys

from automl.cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
