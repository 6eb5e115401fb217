"""Scoring candidates for a search by name and address: pure functions.

The record-linkage recipe: *blocking* (the SQL query narrows to one kelurahan or
kecamatan, and to the RT/RW when given), then *scoring* each candidate of the block, then
a *threshold*. Scoring compares the normalised name tokens (:mod:`connectors.names`)
one to one with rapidfuzz, lets initials match any token with that letter, falls back to
a phonetic code (jellyfish) for tokens that differ in spelling but not in sound, and
adds the weak evidence: Balinese birth-order/sex/caste markers, RT/RW and birth date.

The threshold and weights were calibrated with ``python -m benchmarks search``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import jellyfish
from rapidfuzz import fuzz, process

from connectors.errors import QueryNotSpecific
from connectors.models import SearchQuery
from connectors.names import NormalisedName, normalise_name

__all__ = [
    "MAX_BLOCK_MATCHES",
    "THRESHOLD",
    "BlockRow",
    "check_query",
    "name_similarity",
    "score_block",
]

#: Candidates scoring below this are not returned. Calibrated with the search benchmark
#: (1,000 residents of a 200,000 population, ~5,600 officer-typed variants): at 0.8,
#: recall@5 0.997 and precision@1 0.987; lower thresholds add almost no recall but
#: return more residents who are not the one sought (precision@5 0.67 at 0.72).
THRESHOLD = 0.8
#: A query that puts more residents of its block above the threshold than this is
#: refused as too unspecific (anti-enumeration), whatever the caller's limit.
MAX_BLOCK_MATCHES = 30
#: Scores this close to the best count as equally good answers.
_TIE = 0.05
#: How many candidates of a block the fast pre-filter passes to the detailed scoring.
_PREFILTER = 60


@dataclass(frozen=True, slots=True)
class BlockRow:
    """One resident of a block as the source returns it for scoring."""

    nik: str
    name_key: str
    rt: str | None = None
    rw: str | None = None
    birth_date: str | None = None


def _key_text(key: str) -> str:
    """The comparable tokens of a stored name key (markers dropped), cheaply."""
    if not key.startswith("#"):
        return key
    return " ".join(p for p in key.split(" ") if not p.startswith("#"))


def check_query(query: SearchQuery) -> NormalisedName:
    """Refuse a query that could enumerate residents; return its normalised name.

    Security decision (anti-enumeration): a search needs a name that singles a person
    out *and* a region (kelurahan or kecamatan) to block on. RT, RW and street only
    narrow a region; on their own they would search the whole city.
    """
    if not query.kelurahan_code and not query.kecamatan_code:
        raise QueryNotSpecific("a kelurahan or kecamatan code is required")
    name = normalise_name(query.name)
    if not name.tokens:
        raise QueryNotSpecific("the name has nothing to compare beyond titles and markers")
    if not name.is_specific and not query.birth_date:
        raise QueryNotSpecific("the name is too common to search on without a birth date")
    return name


@lru_cache(maxsize=65_536)
def _phonetic(token: str) -> str:
    return str(jellyfish.metaphone(token))


def _token_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    if len(a) == 1 or len(b) == 1:
        # An initial matches any token with that first letter, but proves less.
        return 0.85 if a[0] == b[0] else 0.0
    sim = fuzz.ratio(a, b) / 100.0
    if sim < 0.85 and len(a) >= 4 and len(b) >= 4 and _phonetic(a) == _phonetic(b):
        sim = 0.85
    return sim


def _weight(token: str) -> float:
    return 1.0 if len(token) == 1 else min(len(token), 8) / 4.0


def name_similarity(query: NormalisedName, candidate: NormalisedName) -> float:
    """How well a candidate's name explains the query's, 0..1.

    Tokens are aligned one to one, best pairs first, in any order. The query's tokens
    weigh three times the candidate's: an officer often types fewer names than the
    register holds, rarely more.
    """
    q, c = query.tokens, candidate.tokens
    if not q or not c:
        return 0.0
    pairs = sorted(
        ((_token_similarity(a, b), i, j) for i, a in enumerate(q) for j, b in enumerate(c)),
        reverse=True,
    )
    q_best = [0.0] * len(q)
    c_best = [0.0] * len(c)
    used_q: set[int] = set()
    used_c: set[int] = set()
    for sim, i, j in pairs:
        if i in used_q or j in used_c:
            continue
        used_q.add(i)
        used_c.add(j)
        q_best[i] = sim
        c_best[j] = sim
    q_w = [_weight(t) for t in q]
    c_w = [_weight(t) for t in c]
    q_cov = sum(s * w for s, w in zip(q_best, q_w, strict=True)) / sum(q_w)
    c_cov = sum(s * w for s, w in zip(c_best, c_w, strict=True)) / sum(c_w)
    return 0.75 * q_cov + 0.25 * c_cov


def _marker_adjustment(query: NormalisedName, candidate: NormalisedName) -> float:
    """Weak evidence from Balinese markers: a small bonus or penalty, never decisive."""
    adjust = 0.0
    for kind in ("order", "sex", "caste"):
        q = {m for m in query.markers if m.startswith(kind)}
        c = {m for m in candidate.markers if m.startswith(kind)}
        if q and c:
            adjust += 0.02 if q & c else -0.05
    return adjust


def score_block(
    query: SearchQuery,
    name: NormalisedName,
    rows: Sequence[BlockRow],
    *,
    address_narrowed: bool,
    threshold: float = THRESHOLD,
) -> list[tuple[str, float]]:
    """Score the residents of a block; return ``(nik, score)`` above ``threshold``, best first.

    Raises :class:`QueryNotSpecific` when more than :data:`MAX_BLOCK_MATCHES` residents
    of the block match about as well as the best one: the name does not single anyone
    out here, and answering would enumerate them.

    ``address_narrowed`` says whether the block was already cut to the query's RT/RW;
    when it was not, an RT/RW that disagrees with the query costs a little.
    """
    if not rows:
        return []
    text = name.text
    choices = [_key_text(r.name_key) for r in rows]
    # Fast pre-filter in C over the whole block, then the detailed scoring in Python.
    shortlist = process.extract(
        text, choices, scorer=fuzz.token_set_ratio, limit=_PREFILTER, score_cutoff=45
    )
    scored: list[tuple[str, float]] = []
    for _choice, _pre, index in shortlist:
        row = rows[index]
        candidate = NormalisedName.from_key(row.name_key)
        score = name_similarity(name, candidate) + _marker_adjustment(name, candidate)
        if not address_narrowed:
            for asked, held in ((query.rt, row.rt), (query.rw, row.rw)):
                if asked and held and asked != held:
                    score -= 0.04
        if query.birth_date and row.birth_date:
            if query.birth_date == row.birth_date:
                score += 0.08
            elif query.birth_date[:4] == row.birth_date[:4]:
                score -= 0.05
            else:
                score -= 0.15
        score = max(0.0, min(1.0, score))
        if score >= threshold:
            scored.append((row.nik, round(score, 4)))
    scored.sort(key=lambda item: (-item[1], item[0]))
    if scored:
        best = scored[0][1]
        tied = sum(1 for _, score in scored if score >= best - _TIE)
        if tied > MAX_BLOCK_MATCHES:
            raise QueryNotSpecific("too many residents of the area match this name")
    return scored


def exact_matches(name: NormalisedName, rows: Iterable[BlockRow]) -> list[str]:
    """The baseline: residents whose normalised name equals the query's exactly."""
    text = name.text
    return [r.nik for r in rows if NormalisedName.from_key(r.name_key).text == text]
