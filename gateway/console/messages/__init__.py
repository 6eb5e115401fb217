"""The console's message catalogue, one module per area: ``MESSAGES[lang][key]``.

Every module holds the same keys in Indonesian (``ID``) and English (``EN``); a test
checks that both languages carry every key a template or page uses.
"""

from __future__ import annotations

from gateway.console.messages import admin, auditing, general, terms

MESSAGES: dict[str, dict[str, str]] = {"id": {}, "en": {}}
for _area in (general, admin, auditing, terms):
    MESSAGES["id"].update(_area.ID)
    MESSAGES["en"].update(_area.EN)
