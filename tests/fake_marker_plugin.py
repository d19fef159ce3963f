"""A third-party plugin module with a visible side effect on import (a marker file)."""

import os
from pathlib import Path

import fake_plugins

Path(os.environ["AUTOML_TEST_MARKER"]).write_text("imported")

PLUGIN = fake_plugins.GOOD
