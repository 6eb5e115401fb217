"""The administrators' page of statistics privacy budgets."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

from tests.console.conftest import ADMIN_1, AUDITOR, Console


async def test_an_administrator_sees_each_agencys_remaining_budget(console_app: Console) -> None:
    ledger = console_app.services.privacy_budget
    assert ledger is not None
    await ledger.spend("bappeda", Fraction(3, 2), Fraction(10), datetime.now(UTC))
    admin = await console_app.signed_in(ADMIN_1)
    page = await admin.get("/console/budgets")
    assert page.status_code == 200
    row = page.text[page.text.index("<td>bappeda</td>") :]
    row = row[: row.index("</tr>")]
    assert "<td>planning-statistics</td>" in row
    assert "<td>1.5</td>" in row and "<td>8.5</td>" in row


async def test_an_auditor_does_not_see_the_budget_page(console_app: Console) -> None:
    auditor = await console_app.signed_in(AUDITOR)
    page = await auditor.get("/console/budgets")
    assert page.status_code == 403
