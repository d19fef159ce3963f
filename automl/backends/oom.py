"""Telling a GPU out-of-memory error from any other failure of a trial.

PyTorch raises ``torch.cuda.OutOfMemoryError`` (``torch.OutOfMemoryError`` in recent
releases); XGBoost and other libraries raise their own error types whose text says
``out of memory`` (``cudaErrorMemoryAllocation: out of memory``). Either way the trial failed
because the GPU was full, which says more about who else was on the GPU than about the
configuration when workers share it (``automl.core.records``: failure kind ``oom``).
"""

from __future__ import annotations

import re

__all__ = ["is_out_of_memory"]

_TEXT = re.compile(r"out of memory|cudaErrorMemoryAllocation|CUDA_ERROR_OUT_OF_MEMORY", re.I)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a GPU out-of-memory error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "OutOfMemoryError" or _TEXT.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False
