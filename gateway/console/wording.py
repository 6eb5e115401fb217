"""The policy's and the log's terms in the page's language.

Pages show names, not codes: a purpose by the name its bundle gives it (``name_id`` on an
Indonesian page), an agency role, an action, a treatment, a refusal reason, an alert's
detail, and a region by name with its code beside it ("Kota Surabaya (35.78)"). The
simulation's explanation is worded here from the decision's values (its code, reasons,
rule ids, treatments), never from the English sentence ``policies`` writes for the API.
An unknown term is shown as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import connectors
import policies
from gateway.console import i18n

# The reason a refusal carries first, mapped to the sentence that explains it.
_WHY = (
    "unknown_agency", "unknown_purpose", "unknown_action", "unknown_field",
    "no_fields_requested", "explicit_deny", "no_grant_for_purpose", "no_reidentify_grant",
    "action_not_granted", "all_fields_denied", "field_denied", "field_not_granted",
    "legal_basis_missing", "legal_basis_mismatch",
)  # fmt: skip


@dataclass(frozen=True)
class Wording:
    lang: str
    bundle: policies.Bundle
    regions: connectors.RegionTable | None = None

    def t(self, key: str, **values: object) -> str:
        text = i18n.translator(self.lang)(key)
        return text.format(**values) if values else text

    def _known(self, prefix: str, code: object) -> str:
        key = f"{prefix}.{code}"
        return self.t(key) if i18n.has(key, self.lang) else str(code)

    def purpose(self, code: object) -> str:
        """A purpose's name: the bundle's (Indonesian where it gives one), the console's
        own for ``administration`` and ``audit``, else the code as it came."""
        if not isinstance(code, str) or not code:
            return "-"
        purpose = self.bundle.purposes.get(code)
        if purpose is None:
            return self._known("purpose", code)
        if self.lang == "id" and purpose.name_id:
            return purpose.name_id
        return purpose.name

    def role(self, role: str) -> str:
        return self._known("agency_role", role)

    def action(self, action: str) -> str:
        return self._known("action", action)

    def treatment(self, treatment: str) -> str:
        return self._known("treatment", treatment)

    def reason(self, code: object) -> str:
        return self._known("reason", code) if code else ""

    def region(self, code: str) -> str:
        """``Kota Surabaya (35.78)``; a code the region table does not know stays a code."""
        name = self.regions.name(code) if self.regions is not None else None
        return f"{name} ({code})" if name else code

    def regions_of(self, codes: Iterable[str]) -> str:
        return ", ".join(self.region(c) for c in codes)

    def alert(self, group: Mapping[str, Any]) -> str:
        """An alert group's detail, from the figures of its first alert."""
        facts = dict((group.get("facts") or [{}])[0])
        kind = str(group.get("kind"))
        key = f"alerts.detail.{kind}"
        if not i18n.has(key, self.lang):
            return str((group.get("details") or [""])[0])
        values = {
            "count": group.get("count", ""),
            "median": f"{facts['median']:g}"
            if isinstance(facts.get("median"), float | int)
            else "",
            "searches": facts.get("searches", ""),
            "distinct": facts.get("distinct", ""),
            "region": self.region(str(facts.get("region", ""))),
            "reason": facts.get("reason", ""),
        }
        return self.t(key, **values)

    def explain(self, decision: Mapping[str, Any]) -> str:
        """The simulation's explanation in the page's language."""
        agency_id = str(decision.get("agency", ""))
        agency = self.bundle.agencies.get(agency_id)
        words: dict[str, object] = {
            "agency": agency.name if agency else agency_id,
            "purpose": self.purpose(decision.get("purpose")),
            "action": self.action(str(decision.get("action", ""))),
        }
        rules = [str(r) for r in decision.get("rule_ids", ())]
        denies = {d.id for d in self.bundle.denies}
        reasons = [str(r) for r in decision.get("reasons", ())]
        named = [r.split(":", 1)[1] for r in reasons if ":" in r]
        if not decision.get("allowed"):
            first = reasons[0].split(":", 1)[0] if reasons else ""
            templates = sorted(
                g.legal_basis.template for g in self.bundle.grants
                if g.id in rules and g.legal_basis is not None
            )  # fmt: skip
            why = self.t(
                f"explain.why.{first}" if first in _WHY else "explain.why.other",
                rules=", ".join(rules), fields=", ".join(named), templates=" / ".join(templates),
                **words,
            )  # fmt: skip
            return self.t("explain.denied", why=why)
        granted = ", ".join(r for r in rules if r not in denies)
        if decision.get("reidentify") and not decision.get("treatments"):
            return self.t("explain.resolve", rules=granted, **words) + "."
        treatments: Mapping[str, str] = decision.get("treatments") or {}
        fields = self.bundle.fields
        datasets = sorted({fields[f].dataset for f in treatments if f in fields})
        released = [f for f, tr in treatments.items() if tr != "withhold"]
        parts = [
            self.t(
                "explain.allowed",
                n=len(released),
                datasets=", ".join(datasets),
                rules=granted,
                **words,
            ),
            self.t(f"explain.subject_{decision.get('subject')}"),
        ]
        withheld = [f for f, tr in treatments.items() if tr == "withhold"]
        if withheld:
            parts.append(self.t("explain.withheld", fields=", ".join(withheld)))
        removed = [r for r in rules if r in denies]
        if removed:
            parts.append(self.t("explain.removed", rules=", ".join(removed)))
        if decision.get("jurisdiction"):
            parts.append(
                self.t("explain.jurisdiction", regions=self.regions_of(decision["jurisdiction"]))
            )
        if decision.get("row_filter"):
            parts.append(self.t("explain.rows", filter=decision["row_filter"]))
        return "; ".join(parts) + "."


async def wording(page: Any, bundle: policies.Bundle | None = None) -> Wording:
    """The page's wording, over ``bundle`` or the active policy's."""
    services = page.services
    if bundle is None:
        bundle = (await services.policies.current()).policy.bundle
    return Wording(page.lang, bundle, getattr(services, "regions", None))
