"""Offline verification of an exported log (or of leaves fetched from a live gateway).

Given only the log's verifier key, the verifier recomputes every leaf hash and the tree
root, checks every signed checkpoint met on the way, checks consistency with a checkpoint
the auditor saved earlier, and names the first bad leaf index.

How the bad leaf is named: a signed checkpoint that fails brackets the damage between the
last checkpoint that held and itself; the leaf hash the log recorded for each leaf (an
untrusted hint that the signed roots vouch for) then points at the exact leaf. Against a
live gateway, :func:`locate_first_bad` narrows it down with consistency proofs instead.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from audit import merkle
from audit.checkpoint import Checkpoint, VerifierKey, verify_checkpoint
from audit.cosignature import WitnessKey, cosignatures
from audit.errors import ProofError
from audit.export import FORMAT


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of a verification.

    ``first_bad_index`` is the first leaf that is wrong (altered, missing, out of order),
    when it can be named; ``bad_range`` is the half-open range that must contain it.
    """

    ok: bool
    tree_size: int
    root_hash: bytes
    leaves_checked: int
    first_bad_index: int | None
    bad_range: tuple[int, int] | None
    problems: tuple[str, ...]
    witnessed_size: int | None = None
    """The largest checkpoint matched by the leaves that carried the witness quorum."""

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "root_hash": base64.b64encode(self.root_hash).decode(),
            "leaves_checked": self.leaves_checked,
            "first_bad_index": self.first_bad_index,
            "bad_range": list(self.bad_range) if self.bad_range else None,
            "problems": list(self.problems),
            "witnessed_size": self.witnessed_size,
        }


@dataclass(slots=True)
class _State:
    problems: list[str] = field(default_factory=list)
    hint_mismatch: list[int] = field(default_factory=list)
    bad_range: tuple[int, int] | None = None
    first_missing: int | None = None


class LogVerifier:
    """Streaming verifier: feed leaves in order, checkpoints as they come, then finish.

    Memory stays O(log n) unless ``keep_hashes`` (needed by :func:`locate_first_bad`).

    With ``quorum`` > 0 the log's own signature is not enough: the leaves must match a
    checkpoint that also carries ``quorum`` valid cosignatures of the ``witnesses``
    (C2SP tlog-cosignature), else the report fails. Security decision: an operator holds
    the log's key and can sign any history; only independent witnesses stop a split view.
    """

    def __init__(
        self,
        verifier_key: str | VerifierKey,
        *,
        earlier_checkpoint: str | None = None,
        keep_hashes: bool = False,
        witnesses: Sequence[str | WitnessKey] = (),
        quorum: int = 0,
    ) -> None:
        self._witnesses = [
            k if isinstance(k, WitnessKey) else WitnessKey.parse(k) for k in witnesses
        ]
        if quorum < 0 or quorum > len({k.verifier_id for k in self._witnesses}):
            raise ProofError("the quorum must be between 0 and the number of witness keys")
        self._quorum = quorum
        self._witnessed: Checkpoint | None = None
        self._witnessed_ok = False
        self._key = (
            verifier_key
            if isinstance(verifier_key, VerifierKey)
            else VerifierKey.parse(verifier_key)
        )
        self._range = merkle.CompactRange()
        self._state = _State()
        self._verified_upto = 0  # leaves [0, this) are vouched for by a signed root
        self._anchors: dict[int, Checkpoint] = {}
        self._final: Checkpoint | None = None
        self.hashes: list[bytes] | None = [] if keep_hashes else None
        self.earlier: Checkpoint | None = None
        self.expected_size: int | None = None
        self.final_note: str | None = None
        if earlier_checkpoint is not None:
            self.earlier = verify_checkpoint(earlier_checkpoint, self._key)
            self._anchors[self.earlier.size] = self.earlier

    @property
    def size(self) -> int:
        return self._range.size

    def add_checkpoint(self, note: str) -> Checkpoint:
        """Check a signed checkpoint; it is compared when the leaves reach its size."""
        checkpoint = verify_checkpoint(note, self._key)
        if checkpoint.size < self.size:
            raise ProofError("checkpoint arrived after its leaves")
        larger = self._witnessed is None or checkpoint.size > self._witnessed.size
        if self._quorum and larger and len(cosignatures(note, self._witnesses)) >= self._quorum:
            self._witnessed, self._witnessed_ok = checkpoint, False
        if checkpoint.size == self.size:
            self._compare(checkpoint, "checkpoint")
        else:
            self._anchors.setdefault(checkpoint.size, checkpoint)
        if self._final is None or checkpoint.size >= self._final.size:
            self._final = checkpoint
            self.final_note = note
        return checkpoint

    def add_leaf(self, index: int, leaf: bytes, recorded_hash: bytes | None = None) -> None:
        """Feed leaf ``index``; leaves must come in order from 0 without gaps."""
        st = self._state
        if index != self.size:
            if st.first_missing is None:
                st.first_missing = self.size
                st.problems.append(f"leaf {self.size} is missing or out of order")
            return
        h = merkle.leaf_hash(leaf)
        if recorded_hash is not None and recorded_hash != h:
            st.hint_mismatch.append(index)
        self._range.append_hash(h)
        if self.hashes is not None:
            self.hashes.append(h)
        if self._anchors:
            anchor = self._anchors.pop(self.size, None)
            if anchor is not None:
                what = "saved checkpoint" if anchor is self.earlier else "checkpoint"
                self._compare(anchor, what)

    def mark_unreadable(self) -> None:
        """The next leaf could not be read: it counts as the first missing one."""
        if self._state.first_missing is None:
            self._state.first_missing = self.size
            self._state.problems.append(f"leaf {self.size} is unreadable")

    def _compare(self, checkpoint: Checkpoint, what: str) -> None:
        if self._range.root() == checkpoint.root_hash:
            if checkpoint == self._witnessed:
                self._witnessed_ok = True
            if self._state.bad_range is None:
                self._verified_upto = checkpoint.size
            return
        if self._state.bad_range is None:
            self._state.bad_range = (self._verified_upto, checkpoint.size)
        self._state.problems.append(
            f"the recomputed root at size {checkpoint.size} differs from the signed {what}"
        )

    def finish(self) -> VerifyReport:
        """Compare with the final checkpoint and the saved one, and name the bad leaf."""
        st = self._state
        final = self._final
        if final is None:
            st.problems.append("no signed checkpoint to verify against")
            final = Checkpoint(self._key.name, self.size, self._range.root())
        expected = max(final.size, self.expected_size or 0)
        if self.size < expected and st.first_missing is None:
            st.first_missing = self.size
            st.problems.append(f"leaves {self.size}..{expected - 1} are missing")
        if self.size > final.size:
            st.problems.append(
                f"leaves from {final.size} on are not covered by a signed checkpoint"
            )
        if self.earlier is not None and self.earlier.size > final.size:
            st.problems.append("the log is shorter than the checkpoint saved earlier")
        if self._quorum and not self._witnessed_ok:
            st.problems.append(
                f"no checkpoint with {self._quorum} valid witness cosignatures matches the leaves"
            )
        for index in st.hint_mismatch:
            if st.bad_range is None or not st.bad_range[0] <= index < st.bad_range[1]:
                st.problems.append(f"leaf {index} does not match the hash the log recorded")
        first = self._first_bad()
        return VerifyReport(
            ok=not st.problems,
            tree_size=final.size,
            root_hash=final.root_hash,
            leaves_checked=self.size,
            first_bad_index=first,
            bad_range=st.bad_range,
            problems=tuple(st.problems),
            witnessed_size=self._witnessed.size if self._witnessed_ok and self._witnessed else None,
        )

    def _first_bad(self) -> int | None:
        st = self._state
        candidates: list[int] = []
        if st.first_missing is not None:
            candidates.append(st.first_missing)
        if st.bad_range is not None:
            lo, hi = st.bad_range
            inside = [i for i in st.hint_mismatch if lo <= i < hi]
            if inside:
                candidates.append(inside[0])
            elif hi - lo == 1:
                candidates.append(lo)
        candidates.extend(st.hint_mismatch[:1])
        return min(candidates) if candidates else None


def _b64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ProofError("expected base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ProofError("invalid base64") from exc


def verify_export(
    lines: Iterable[str],
    verifier_key: str | VerifierKey,
    *,
    earlier_checkpoint: str | None = None,
    on_leaf: Callable[[int], None] | None = None,
    on_header: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Verify an export (its lines, in order) against the log's verifier key.

    ``on_header`` receives the announced tree size, ``on_leaf`` each leaf index (for a
    progress bar). Malformed lines are reported as problems at the position they occupy.
    """
    verifier = LogVerifier(verifier_key, earlier_checkpoint=earlier_checkpoint)
    return feed_export(lines, verifier, on_leaf=on_leaf, on_header=on_header)


def feed_export(
    lines: Iterable[str],
    verifier: LogVerifier,
    *,
    on_leaf: Callable[[int], None] | None = None,
    on_header: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Feed an export's lines to ``verifier`` and finish it (see :func:`verify_export`)."""
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        kind: object = None
        try:
            entry = json.loads(line)
            kind = entry.get("type")
            if kind == "header":
                if entry.get("format") != FORMAT:
                    raise ProofError("unknown export format")
                verifier.expected_size = int(entry["tree_size"])
                if on_header is not None:
                    on_header(verifier.expected_size)
            elif kind == "leaf":
                recorded = entry.get("hash")
                verifier.add_leaf(
                    int(entry["index"]),
                    _b64(entry["leaf"]),
                    None if recorded is None else _b64(recorded),
                )
                if on_leaf is not None:
                    on_leaf(int(entry["index"]))
            elif kind == "checkpoint":
                verifier.add_checkpoint(str(entry["note"]))
            else:
                raise ProofError("unknown line type")
        except (ValueError, KeyError, TypeError, AttributeError, ProofError) as exc:
            problems.append(f"line {number} (after leaf {verifier.size - 1}): {exc}")
            if kind in (None, "leaf"):
                verifier.mark_unreadable()
    report = verifier.finish()
    if not problems:
        return report
    return VerifyReport(
        ok=False,
        tree_size=report.tree_size,
        root_hash=report.root_hash,
        leaves_checked=report.leaves_checked,
        first_bad_index=report.first_bad_index,
        bad_range=report.bad_range,
        problems=(*problems, *report.problems),
    )


def prefix_root(hashes: Sequence[bytes], size: int) -> bytes:
    compact = merkle.CompactRange()
    for h in hashes[:size]:
        compact.append_hash(h)
    return compact.root()


async def locate_first_bad(
    hashes: Sequence[bytes],
    checkpoint: Checkpoint,
    consistency: Callable[[int, int], Awaitable[Sequence[bytes]]],
) -> int | None:
    """The first leaf whose recomputed hash departs from the signed tree, by bisection.

    ``hashes`` are the leaf hashes recomputed from the fetched leaves; ``consistency``
    fetches a consistency proof ``(m, checkpoint.size)`` from the log. A prefix whose root
    is proven consistent with the signed root is intact, so the smallest inconsistent
    prefix ends at the first bad leaf. O(log n) proofs.
    """

    async def intact(m: int) -> bool:
        root = prefix_root(hashes, m)
        if m == checkpoint.size:
            return root == checkpoint.root_hash
        try:
            proof = await consistency(m, checkpoint.size)
            merkle.verify_consistency(m, checkpoint.size, proof, root, checkpoint.root_hash)
        except ProofError:
            return False
        return True

    n = min(len(hashes), checkpoint.size)
    if n == 0 or await intact(n):
        return None
    lo, hi = 0, n  # prefix lo intact (trivially for 0), prefix hi not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if await intact(mid):
            lo = mid
        else:
            hi = mid
    return hi - 1
