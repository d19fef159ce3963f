"""``python -m automl.report``: the same as ``python -m automl report``."""

import sys

from automl.report.cli import main

sys.exit(main())
