"""RFC 8785 (JCS) canonical JSON, with a fast path for the values audit events carry.

The ``rfc8785`` package is the reference. Events are mostly ASCII keys, strings, integers,
booleans and nulls; for such values ``orjson`` with sorted keys produces the very same
bytes (the same escapes, the same key order for ASCII keys, integers written alike), at
a fraction of the cost. Anything else (floats,
non-ASCII keys, integers beyond 2**53, lone surrogates) goes to ``rfc8785``. A property
test checks that both paths agree.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

_MAX_SAFE = 2**53 - 1


def _plain(value: Any) -> bool:
    """True when ``value`` holds only what both encoders write identically."""
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return bool(-_MAX_SAFE <= value <= _MAX_SAFE)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii():
                return False
            if type(item) is not str and item is not None and not _plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(type(item) is str or _plain(item) for item in value)
    return False


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value.

    Raises ``ValueError`` for what JSON cannot carry (NaN, an object, a lone surrogate).
    """
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate: let the reference decide
    try:
        return rfc8785.dumps(value)
    except TypeError as exc:
        raise ValueError("not a JSON value") from exc
