"""The statistics' noise: OpenDP's discrete Laplace sampler, its spread, what it spends,
and the differencing attack it defeats."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from gateway.statistics.noise import OpenDPNoise, _measurement
from policies.disclosure import protect


def test_the_noise_is_symmetric_with_the_discrete_laplace_spread() -> None:
    draws = [x - 100 for x in OpenDPNoise().noisy_counts([100] * 20000, Fraction(1, 2))]
    mean = sum(draws) / len(draws)
    var = sum(x * x for x in draws) / len(draws)
    q = math.exp(-1 / 2)
    expected = 2 * q / (1 - q) ** 2  # variance of the discrete Laplace of scale 2
    assert abs(mean) < 0.1
    assert abs(var - expected) / expected < 0.08
    assert sum(1 for x in draws if x == 0) / len(draws) > 0.2
    assert all(isinstance(x, int) for x in draws)


@pytest.mark.parametrize("epsilon", [Fraction(1, 2), Fraction(1, 3), Fraction(3, 10), Fraction(1)])
def test_a_table_never_spends_more_than_its_epsilon(epsilon: Fraction) -> None:
    # A float scale that rounds 1/epsilon down would lose a hair more than is recorded.
    assert Fraction(_measurement(epsilon).map(1)) <= epsilon


def test_a_noisy_table_needs_a_noise_source() -> None:
    with pytest.raises(ValueError, match="noise source"):
        protect(["r"], [["a", "b"]], {("a",): 20, ("b",): 30}, min_cell=10, epsilon=Fraction(1))


def test_differencing_two_noisy_answers_does_not_reveal_a_small_count() -> None:
    """'Kelurahan X' minus 'kelurahan X without the 0-4 band': the attacker's estimate of
    the 0-4 count is spread over many values, and the likelihood of any observed difference
    under a true count of 3 or of 4 differs by at most exp(2 epsilon)."""
    epsilon = Fraction(1, 2)
    small, rest, rounds = 3, 250, 4000
    noise = OpenDPNoise()
    whole = noise.noisy_counts([rest + small] * rounds, epsilon)
    without = noise.noisy_counts([rest] * rounds, epsilon)
    estimates: dict[int, int] = {}
    for w, o in zip(whole, without, strict=True):
        estimates[w - o] = estimates.get(w - o, 0) + 1
    exact = estimates.get(small, 0) / rounds
    assert exact < 0.2  # the true count is the attacker's answer less than one time in five
    assert len([d for d, c in estimates.items() if c > 40]) >= 8
