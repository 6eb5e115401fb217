"""A side-by-side view of a proposed bundle file against the active one (pure)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

CONTEXT = 3


@dataclass(frozen=True)
class DiffRow:
    """One row of the side-by-side table. ``kind`` is ``equal``, ``change``, ``delete``,
    ``insert`` or ``skip`` (a run of unchanged lines folded away, counted in ``skipped``)."""

    kind: str
    old_no: int | None
    old: str
    new_no: int | None
    new: str
    skipped: int = 0


def side_by_side(old_text: str, new_text: str, *, context: int = CONTEXT) -> list[DiffRow]:
    """Rows pairing the old and new lines; unchanged runs longer than twice ``context``
    are folded into one ``skip`` row."""
    old = old_text.splitlines()
    new = new_text.splitlines()
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    opcodes = matcher.get_opcodes()
    for n, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            length = i2 - i1
            keep_head = 0 if n == 0 else context
            keep_tail = 0 if n == len(opcodes) - 1 else context
            if length > keep_head + keep_tail + 1 and length > context:
                for k in range(keep_head):
                    rows.append(DiffRow("equal", i1 + k + 1, old[i1 + k], j1 + k + 1, new[j1 + k]))
                skipped = length - keep_head - keep_tail
                rows.append(DiffRow("skip", None, "", None, "", skipped=skipped))
                for k in range(length - keep_tail, length):
                    rows.append(DiffRow("equal", i1 + k + 1, old[i1 + k], j1 + k + 1, new[j1 + k]))
            else:
                for k in range(length):
                    rows.append(DiffRow("equal", i1 + k + 1, old[i1 + k], j1 + k + 1, new[j1 + k]))
            continue
        left = list(range(i1, i2))
        right = list(range(j1, j2))
        for k in range(max(len(left), len(right))):
            li = left[k] if k < len(left) else None
            rj = right[k] if k < len(right) else None
            kind = (
                "change"
                if li is not None and rj is not None
                else "delete"
                if rj is None
                else "insert"
            )
            rows.append(
                DiffRow(
                    kind,
                    None if li is None else li + 1,
                    "" if li is None else old[li],
                    None if rj is None else rj + 1,
                    "" if rj is None else new[rj],
                )
            )
    return rows
