"""The type of a JSON value: what ``json.loads`` returns and ``json.dumps`` writes back.

Annotations only; a value that arrives from a file is still checked where it is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

__all__ = ["JSON", "JSONLike", "JSONScalar", "JSONValue"]

JSONScalar: TypeAlias = "str | int | float | bool | None"
"""A JSON leaf."""
JSONValue: TypeAlias = "JSONScalar | list[JSONValue] | dict[str, JSONValue]"
"""Any JSON value: a leaf, an array or an object."""
JSON: TypeAlias = "dict[str, JSONValue]"
"""A JSON object."""
JSONLike: TypeAlias = "JSONScalar | Sequence[JSONLike] | Mapping[str, JSONLike]"
"""What ``json.dumps`` writes as JSON, taken read-only (so a ``dict[str, float]`` is one)."""
