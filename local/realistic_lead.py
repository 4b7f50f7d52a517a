"""The realistic lead (issue 22): what a lead vendor sends, the unit of the cost model and of the write-unit
figures. Not the smallest lead the service takes (an email and a certificate URL), which sits just under a
1 KB item boundary and so understates what a lead costs.

A vendor named with 24 characters, an email, a phone, the vendor's own lead id, and three of the
allow-listed extra fields (kept in clear on the lead: see EXTRA_FIELDS_ALLOWED). Every lead is different
(its certificate, contact and lead id); every lead has the same shape and sizes.
"""

from __future__ import annotations

from typing import Any

VENDOR = "acme-lead-partners-west1"  # 24 characters
assert len(VENDOR) == 24
EXTRAS = ("utm_source", "utm_campaign", "sub_id")
# What the buyer's page reports about the session (the simulator's session facts): a kept lead passes the
# README's walkthrough rules (max age 15 minutes, no bots, own domains only).
DOMAIN = "acme-leads.example"
SESSION = {"domain": DOMAIN, "page_url": f"https://{DOMAIN}/auto-insurance/quote"}
RULES = {
    "max_age": {"mode": "enforce", "max_seconds": 900},
    "bot_detected": {"mode": "enforce"},
    "domains": {"mode": "enforce", "allowed": [DOMAIN]},
}


def rules(mode: str = "enforce") -> dict[str, Any]:
    """The walkthrough rules, every one in ``mode`` (enforce, shadow)."""
    return {name: {**rule, "mode": mode} for name, rule in RULES.items()}


def lead(n: int, cert_id: str) -> dict[str, Any]:
    """The ``n``-th realistic lead, carrying ``cert_id`` (a web certificate id)."""
    return {
        "trustedform_cert_url": f"https://cert.trustedform.com/{cert_id}",
        "email": f"jordan.rivera{n % 100_000:05d}@example.com",
        "phone": f"512-555-{n % 10_000:04d}",
        "lead_id": f"AL-2025-{n % 10_000_000:07d}",
        "utm_source": "google",
        "utm_campaign": "spring-auto-quotes",
        "sub_id": f"pub-{n % 10_000:04d}",
    }
