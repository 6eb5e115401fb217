"""The fast canonical JSON path writes exactly what the RFC 8785 reference writes."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.canonical import canonical_json

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
keys = st.text(max_size=8) | st.sampled_from(
    ["action", "fields", "nik", "a", "B", "_", "é", "\U0001f600", "\ufb01"]
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_same_bytes_as_the_reference(value: object) -> None:
    try:
        want = rfc8785.dumps(value)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError:
        with pytest.raises(ValueError):
            canonical_json(value)
        return
    assert canonical_json(value) == want


def test_control_characters_and_big_integers() -> None:
    value: dict[str, Any] = {
        "z": "tab\there\u0001\u007f\u2028",
        "a": 2**53 - 1,
        "m": [True, None, -0],
    }
    assert canonical_json(value) == rfc8785.dumps(value)
    with pytest.raises(ValueError):
        canonical_json({"n": 2**60})
    with pytest.raises(ValueError):
        canonical_json({"f": float("nan")})
    with pytest.raises(ValueError):
        canonical_json({"o": object()})
    with pytest.raises(ValueError):  # a lone surrogate is no Unicode text: refused by both
        canonical_json({"s": "\ud800x"})
