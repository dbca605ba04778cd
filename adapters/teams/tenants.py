"""The Microsoft 365 tenants Parley accepts Teams activities from, as the environment says: the bot's own
(MICROSOFT_APP_TENANT_ID, a single-tenant bot) and the partnership's other organisations (MICROSOFT_APP_TENANT_IDS,
comma-separated). Read here once for ``parley serve`` (adapters/teams/app.py refuses any other tenant) and for
``parley directory check`` (an agency whose tenant is not among them)."""

from __future__ import annotations

from collections.abc import Mapping

TENANT_ENV = "MICROSOFT_APP_TENANT_ID"
TENANTS_ENV = "MICROSOFT_APP_TENANT_IDS"  # the partnership's other Microsoft 365 tenants, comma-separated


def from_environment(env: Mapping[str, str]) -> tuple[str, tuple[str, ...]]:
    """(the bot's own tenant or "", the other tenants), ids trimmed and lower-cased as Teams sends them."""
    own = env.get(TENANT_ENV, "").strip().lower()
    others = tuple(dict.fromkeys(t.strip().lower() for t in env.get(TENANTS_ENV, "").split(",") if t.strip()))
    return own, others


def allowed(env: Mapping[str, str]) -> frozenset[str] | None:
    """Every tenant accepted, or None when no tenant is named (any tenant is then accepted)."""
    own, others = from_environment(env)
    tenants = frozenset(t for t in (own, *others) if t)
    return tenants or None
