"""Numbers beyond what the store can hold, in paths and bodies: 4xx, never a 500."""

from __future__ import annotations

from tests.attacks.conftest import Target, assert_problem

HUGE = 2**63 + 12345


async def test_bundle_ids_beyond_a_database_integer_answer_422(target: Target) -> None:
    admin = {"Authorization": f"Bearer {await target.token('demo-admin')}"}
    for method, path in (
        ("GET", f"/admin/policies/{HUGE}"),
        ("GET", f"/admin/policies/{HUGE}/diff"),
        ("POST", f"/admin/policies/{HUGE}/approve"),
        ("GET", "/admin/policies/-1"),
    ):
        r = await target.client.request(method, path, headers=admin)
        assert_problem(r, 422, "invalid_request")
    r = await target.client.post(
        "/admin/policies/simulate",
        headers=admin,
        json={"agency": "dinsos", "purpose": "statistics", "bundle_id": HUGE},
    )
    assert_problem(r, 422, "invalid_request")


async def test_audit_positions_beyond_the_tree_are_4xx(target: Target) -> None:
    auditor = {"Authorization": f"Bearer {await target.token('demo-auditor')}"}
    for path, params in (
        (f"/audit/leaves/{HUGE}", None),
        ("/audit/leaves/-1", None),
        ("/audit/proof/inclusion", {"leaf_index": HUGE, "tree_size": HUGE + 1}),
        ("/audit/proof/consistency", {"first": 1, "second": HUGE}),
    ):
        r = await target.client.get(path, headers=auditor, params=params)
        assert 400 <= r.status_code < 500, (path, r.text)
        assert_problem(r, r.status_code)
