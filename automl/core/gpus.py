"""How many GPUs the CUDA driver shows this process, without importing torch.

Importing torch only to ask ``torch.cuda.is_available()`` costs seconds per process; the
driver API answers in milliseconds and honours ``CUDA_VISIBLE_DEVICES`` the same way. Used by
the several-worker parent (which GPUs to hand out) and by plugins deciding ``device=auto``.
"""

from __future__ import annotations

import ctypes
import functools
import sys

__all__ = ["driver_gpu_count"]


@functools.lru_cache(maxsize=1)
def driver_gpu_count() -> int | None:
    """GPUs the CUDA driver sees (honours ``CUDA_VISIBLE_DEVICES``).

    Returns:
        The count (0 when the driver is there but sees no GPU or fails to start), or ``None``
        when there is no CUDA driver on this machine.
    """
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        lib = ctypes.CDLL(name)
        count = ctypes.c_int(0)
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return int(count.value)
    except (OSError, AttributeError):
        return None
