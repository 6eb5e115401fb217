"""Legal-basis templates such as ``PKS-DUKCAPIL/DINSOS/<n>/<yyyy>``."""

from __future__ import annotations

import re

from policies.model import LegalBasisRule

_PLACEHOLDERS = {
    "n": r"[0-9]{1,9}",
    "yyyy": r"(?:19|20)[0-9]{2}",
    "mm": r"(?:0[1-9]|1[0-2])",
    "code": r"[A-Za-z0-9-]{1,40}",
}
_TOKEN = re.compile(r"<([a-z]+)>")


def compile_template(template: str) -> LegalBasisRule:
    """Compile a template; unknown placeholders raise ``ValueError``.

    Only the placeholders above are special; every other character is matched literally,
    and the whole legal basis must match (not a prefix of it).
    """
    if not template.strip():
        raise ValueError("legal basis pattern is empty")
    parts: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(template):
        name = match.group(1)
        if name not in _PLACEHOLDERS:
            known = ", ".join(f"<{p}>" for p in _PLACEHOLDERS)
            raise ValueError(f"unknown placeholder <{name}> in legal basis (known: {known})")
        parts.append(re.escape(template[pos : match.start()]))
        parts.append(_PLACEHOLDERS[name])
        pos = match.end()
    parts.append(re.escape(template[pos:]))
    return LegalBasisRule(template=template, regex=re.compile("".join(parts)))
