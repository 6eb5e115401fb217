"""The noise added to statistics: OpenDP's discrete Laplace mechanism.

``opendp.measurements.make_laplace`` over a vector of integers samples the discrete
Laplace distribution exactly (Canonne, Kamath and Steinke 2020, in integer and rational
arithmetic, from the operating system's randomness), every cell of a table in one call
into the library's compiled core. The measurement's own privacy map is the check on the
scale: a table spends ``epsilon`` of the agency's budget, so the scale is the smallest
float not under ``1/epsilon`` whose map (the privacy loss of one resident, who falls in
exactly one cell: L1 sensitivity 1) is at most ``epsilon`` exactly. A float scale that
rounds ``1/epsilon`` down would spend a hair more than the budget records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Any

import opendp.prelude as dp

__all__ = ["OpenDPNoise"]

_NUDGES = 64  # float steps tried above 1/epsilon before giving up (one or two suffice)


@lru_cache(maxsize=32)
def _measurement(epsilon: Fraction) -> Any:
    """The discrete Laplace measurement spending at most ``epsilon`` per table."""
    if epsilon <= 0:
        raise ValueError("epsilon must be positive")
    dp.enable_features("contrib")  # make_laplace is not yet vetted upstream
    scale = float(1 / epsilon)
    for _ in range(_NUDGES):
        measurement = dp.m.make_laplace(
            dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale
        )
        if Fraction(measurement.map(1)) <= epsilon:  # type: ignore[no-untyped-call]
            return measurement
        scale = math.nextafter(scale, math.inf)
    raise ValueError(f"no float scale spends at most {epsilon}")


class OpenDPNoise:
    """The noise source of ``policies.disclosure.protect`` in service."""

    def noisy_counts(self, counts: Sequence[int], epsilon: Fraction) -> list[int]:
        """``counts``, each with independent discrete Laplace noise of scale about
        ``1/epsilon`` added (the whole vector spends ``epsilon``)."""
        if not counts:
            return []
        noisy: list[int] = _measurement(epsilon)([int(c) for c in counts])
        return noisy
