"""``python -m automl.results.report``: the same as ``python -m automl report``."""

import sys

from automl.results.report.cli import main

sys.exit(main())
