"""Argument parsing for subcommands: a bad argument is a ``UserError`` (one line, exit 2)."""

from __future__ import annotations

import argparse
from typing import NoReturn

from automl.core.errors import UserError

__all__ = ["ArgumentParser"]


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises ``UserError`` (one line, exit 2) instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")
