"""Scoring and the circuit breaker: pure functions, tested by properties and cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.circuit import CircuitBreaker
from connectors.errors import QueryNotSpecific
from connectors.matching import (
    MAX_BLOCK_MATCHES,
    THRESHOLD,
    BlockRow,
    check_query,
    exact_matches,
    name_similarity,
    score_block,
)
from connectors.models import SearchQuery
from connectors.names import normalise_name

# Tokens outside the rule vocabulary (no title, marker or connector starts with "x").
_token = st.text(alphabet="abcdefghijklmnoprstuwy", min_size=2, max_size=8).map("x".__add__)
_name = st.lists(_token, min_size=1, max_size=4).map(" ".join)


@given(_name, _name)
def test_similarity_is_bounded(a: str, b: str) -> None:
    assert 0.0 <= name_similarity(normalise_name(a), normalise_name(b)) <= 1.0


@given(_name)
def test_a_name_matches_itself_fully(a: str) -> None:
    n = normalise_name(a)
    if n.tokens:
        assert name_similarity(n, n) == pytest.approx(1.0)


@given(_name, _name)
def test_token_order_does_not_matter(a: str, b: str) -> None:
    q = normalise_name(f"{a} {b}")
    c = normalise_name(f"{b} {a}")
    assert name_similarity(q, c) == pytest.approx(1.0)


def _row(
    nik: str, name: str, rt: str = "001", rw: str = "001", birth: str = "1980-01-01"
) -> BlockRow:
    return BlockRow(nik=nik, name_key=normalise_name(name).key, rt=rt, rw=rw, birth_date=birth)


BLOCK = [
    _row("1", "SUTRISNO HADI WIBOWO"),
    _row("2", "SUTRISNO HARJONO", rt="002"),
    _row("3", "SITI AMINAH", birth="1975-05-05"),
    _row("4", "SITI AMINAH", birth="1990-02-02"),
    _row("5", "I MADE SUDARMA"),
    _row("6", "NI MADE SUDARMI"),
]


def _score(name: str, **query: str) -> list[tuple[str, float]]:
    q = SearchQuery(name=name, kelurahan_code="35.78.08.1001", **query)
    return score_block(q, check_query(q), BLOCK, address_narrowed=False)


def test_ranked_above_threshold() -> None:
    found = _score("Soetrisno Hadi Wibowo")
    assert found[0][0] == "1"
    assert all(score >= THRESHOLD for _, score in found)
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


def test_initial_matches_a_full_token() -> None:
    assert _score("Sutrisno H. Wibowo")[0][0] == "1"


def test_birth_date_separates_namesakes() -> None:
    found = _score("Siti Aminah", birth_date="1990-02-02")
    assert found[0][0] == "4"
    assert dict(found)["4"] > dict(found).get("3", 0)


def test_rt_rw_disagreement_costs_a_little() -> None:
    near = dict(_score("Sutrisno Harjono", rt="002", rw="001"))
    far = dict(_score("Sutrisno Harjono", rt="009", rw="001"))
    assert near["2"] > far["2"]


def test_balinese_markers_are_weak_evidence() -> None:
    found = dict(_score("I Made Sudarma"))
    assert found["5"] > found.get("6", 0.0)


def test_exact_baseline() -> None:
    assert exact_matches(normalise_name("Siti Aminah"), BLOCK) == ["3", "4"]
    assert exact_matches(normalise_name("Siti Aminnah"), BLOCK) == ["3", "4"]
    assert exact_matches(normalise_name("Siti Aminat"), BLOCK) == []


def test_too_many_equally_good_matches_is_refused() -> None:
    rows = [
        _row(str(i), f"BUDI SANTOSO {suffix}")
        for i, suffix in enumerate(f"{a}{b}{c}" for a in "dkm" for b in "aiu" for c in "nrst")
    ]
    assert len(rows) > MAX_BLOCK_MATCHES
    q = SearchQuery(name="Budi Santoso", kelurahan_code="35.78.08.1001")
    with pytest.raises(QueryNotSpecific):
        score_block(q, check_query(q), rows, address_narrowed=False)


@given(st.lists(st.booleans(), max_size=40), st.integers(min_value=1, max_value=5))
def test_breaker_opens_after_consecutive_failures(outcomes: list[bool], threshold: int) -> None:
    clock = [0.0]
    breaker = CircuitBreaker(failure_threshold=threshold, reset_seconds=10, clock=lambda: clock[0])
    streak = 0
    for ok in outcomes:
        if not breaker.allow():
            assert streak >= threshold
            clock[0] += 10  # wait out the cool-down; the next call is the trial
            assert breaker.allow()
        if ok:
            breaker.record_success()
            streak = 0
            assert breaker.state == "closed"
        else:
            breaker.record_failure()
            streak += 1
            assert (breaker.state == "open") == (streak >= threshold)


def test_half_open_allows_one_trial_at_a_time() -> None:
    clock = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=5, clock=lambda: clock[0])
    breaker.record_failure()
    assert not breaker.allow()
    clock[0] = 5
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # the trial is in flight
    breaker.record_success()
    assert breaker.allow() and breaker.state == "closed"
