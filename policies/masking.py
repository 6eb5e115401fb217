"""Masking: show a little of a value, hide the rest (pure functions)."""

from __future__ import annotations


def mask_value(value: object, method: str) -> str | None:
    """Mask ``value`` with ``method``: ``initials``, ``redact`` or ``keep:<left>:<right>``.

    ``keep`` counts letters and digits only and leaves separators in place, so a NIK with
    ``keep:6:2`` shows its region prefix and last two digits (``357808********12``) and a
    date with ``keep:4:0`` shows its year (``1985-**-**``). Security: a value too short to
    hide anything under ``keep`` is masked entirely rather than shown whole.
    """
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if method == "redact":
        return "***"
    if method == "initials":
        words = [w for w in text.replace(".", " ").split() if w[:1].isalnum()]
        return " ".join(f"{w[0].upper()}." for w in words)
    _, left_text, right_text = method.split(":")
    left, right = int(left_text), int(right_text)
    positions = [i for i, ch in enumerate(text) if ch.isalnum()]
    if left + right >= len(positions):
        keep: set[int] = set()
    else:
        keep = set(positions[:left]) | set(positions[len(positions) - right :])
    return "".join(ch if (i in keep or not ch.isalnum()) else "*" for i, ch in enumerate(text))
