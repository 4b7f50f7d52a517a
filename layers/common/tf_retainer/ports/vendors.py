"""Ports of the vendor use cases: vendors' API keys (hashed) and their callback targets. Implemented by
``store/vendor_keys.py`` and ``store/vendor_callbacks.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class VendorKey:
    vendor: str
    active: bool
    key_hash: str
    key_hint: str | None = None
    created_at: str | None = None
    changed_at: str | None = None
    # The vendor's suspension (who, when, why) while it lasts: a vendor-wide stop, unlike a revoked key,
    # lifted by `vendors resume`. Kept on each key so the authorizer's one GetItem sees it.
    suspended: dict[str, str] | None = None
    # When an operator last lifted a suspension: the automatic suspension counts only leads after it.
    resumed_at: str | None = None
    # "vendor" (posts leads, asks about its own), or "buyer": the buyer's own systems (a CRM, a dialer, an SMS
    # platform), which record revocations and contacts and ask the gate about any lead, and post no lead.
    role: str = "vendor"

    @property
    def refusal(self) -> str | None:
        """Why the authorizer refuses this key (the reason the 403 carries), or None when it may pass."""
        if not self.active:
            return "vendor_key_revoked"
        if self.suspended is not None:
            return "vendor_suspended"
        return None


@dataclass(frozen=True, slots=True)
class CallbackTarget:
    vendor: str
    url: str
    secret: str
    active: bool
    changed_at: str


class VendorKeys(Protocol):
    def list(self) -> list[VendorKey]: ...

    def set_suspended(
        self,
        key_hash: str,
        *,
        suspended: bool,
        reason: str | None,
        actor: str,
        now: datetime,
        seen: VendorKey | None = None,
        detail: dict[str, Any] | None = None,
    ) -> bool: ...


class CallbackTargets(Protocol):
    def get(self, vendor: str) -> CallbackTarget | None: ...
