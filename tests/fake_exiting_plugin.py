"""A plugin module that ends the interpreter when imported, as careless script-style code does."""

import sys

sys.exit(3)
