"""The administrators' and auditors' console under ``/console``.

Server-rendered pages (Jinja2, no script) over the same services as the admin and audit
APIs. Administrators (agency ``diskominfo``) manage clients and policy bundles;
auditors (agency ``inspektorat``) search the audit log and read residents' access
reports. Neither can do the other's work, and every action lands in the audit log.

Public face:

- ``router``: the FastAPI router (prefix ``/console``) to include in the app;
- ``create_user(engine, username, password, role, totp_secret=None, *, master_key=None)``,
  ``set_password(engine, username, password)``, ``seed_demo_users(engine)``;
- ``authenticate(...)``, ``ConsoleUser``, ``UserError``, ``SignInFailed``;
- ``record_action(...)``: append a console action to the audit log.

Tests may set ``app.state.console_hasher`` to an argon2 ``PasswordHasher`` with cheaper
parameters; production leaves it unset and gets argon2id's defaults.
"""

from fastapi import APIRouter

from gateway.console.pages import (
    auditing,
    auth,
    budgets,
    checkpoint,
    clients,
    dashboard,
    investigating,
    logbook,
    policies,
    static,
)
from gateway.console.routing import PREFIX
from gateway.console.trail import record_action
from gateway.console.users import (
    ROLES,
    ConsoleUser,
    SignInFailed,
    UserError,
    authenticate,
    create_user,
    seed_demo_users,
    set_password,
)

router = APIRouter(prefix=PREFIX, include_in_schema=False)
for _module in (
    auth, dashboard, clients, policies, logbook, auditing, investigating, checkpoint, budgets,
    static,
):  # fmt: skip
    router.include_router(_module.router)

__all__ = [
    "ROLES",
    "ConsoleUser",
    "SignInFailed",
    "UserError",
    "authenticate",
    "create_user",
    "record_action",
    "router",
    "seed_demo_users",
    "set_password",
]
