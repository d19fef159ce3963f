"""A full disk for the files a test names: loaded by Python at start-up (``sitecustomize``).

``tests/test_faults_disk.py`` runs the real command with this folder first on ``PYTHONPATH``
and ``AUTOML_TEST_ENOSPC`` set to ``;``-separated ``fnmatch`` patterns of full paths. A file
opened for writing whose path matches is created, as on a full disk, and every write to it
fails with ``ENOSPC`` ("No space left on device"), the error a full file system gives. Nothing
else in the process changes.
"""

from __future__ import annotations

import builtins
import errno
import fnmatch
import io
import os

_PATTERNS = [p for p in os.environ.get("AUTOML_TEST_ENOSPC", "").split(";") if p]
_open = io.open


class _Full:
    """A file on a full disk: it exists, and every write fails."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self._handle.name)

    writelines = write

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __iter__(self):
        return iter(self._handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def _full_open(file, mode="r", *args, **kwargs):
    handle = _open(file, mode, *args, **kwargs)
    writing = any(flag in mode for flag in "wax+")
    if writing and isinstance(file, str | bytes | os.PathLike):
        path = os.path.abspath(os.fsdecode(file))
        if any(fnmatch.fnmatch(path, pattern) for pattern in _PATTERNS):
            return _Full(handle)
    return handle


if _PATTERNS:
    io.open = builtins.open = _full_open
