"""The settings' rules for the outside providers other than TrustedForm: where each may be reached (its
production host, or a simulator on this machine: nothing else, whatever the configuration says), which
provider may answer which screen, and the ``name=value`` lists the environment gives them as.

A provider's API key goes only where its URL setting points, so that setting is where the key's
destination is decided: https on the provider's one production host (port 443, no user, path, query or
fragment), or http(s) on a loopback address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import HttpUrl

# Exact names only (a name that merely starts with "127." is any host on the internet).
# host.docker.internal: `sam local invoke` reaching a simulator on the developer's machine.
LOCAL_ENDPOINT_HOSTS = frozenset({"localhost", "host.docker.internal"})
# The one production host of each provider URL setting (docs/providers.md).
PROVIDER_HOSTS = {
    "blacklist_alliance_api_url": "api.blacklistalliance.net",
    "dncscrub_api_url": "www.dncscrub.com",
    "dncscrub_data_api_url": "dataapi.dncscrub.com",
    "twilio_lookup_api_url": "lookups.twilio.com",
    "jornaya_api_url": "api.leadid.com",
}
# Which providers may answer each screen (domain/screens.py names them).
SCREEN_PROVIDERS: dict[str, tuple[str, ...]] = {
    "litigator": ("blacklist_alliance", "dncscrub"),
    "dnc": ("dncscrub",),
    "reassigned_number": ("dncscrub", "twilio_lookup"),
    "phone": ("twilio_lookup",),
    "leadid": ("jornaya",),  # not of the number: the lead's LeadiD token, audited by Jornaya's TCPA Guardian
}
PROVIDERS = ("blacklist_alliance", "dncscrub", "twilio_lookup", "jornaya")
# Dollars a call: Blacklist Alliance's is ActiveProspect's published LeadConduit price; DNC.com's, Twilio's
# and Jornaya's are assumptions (none was read from a price list): a buyer sets its own in SCREEN_COSTS.
DEFAULT_SCREEN_COSTS = {"blacklist_alliance": 0.01, "dncscrub": 0.006, "twilio_lookup": 0.008, "jornaya": 0.01}
# How long one answer about a number serves intake: litigator lists and the DNC registries change daily;
# a Twilio "no" (not reassigned) is a safe harbour for 24 hours; a line's type changes rarely.
# (A LeadiD audit is the lead's own, never shared: its window is unused.)
DEFAULT_SCREEN_CACHE_HOURS = {
    "litigator": 24.0, "dnc": 24.0, "reassigned_number": 24.0, "phone": 720.0, "leadid": 24.0,
}  # fmt: skip


def is_loopback_ip(host: str | None) -> bool:
    """An IP literal in 127.0.0.0/8 or ::1; a DNS name never is (it could resolve anywhere)."""
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False


def is_local(url: HttpUrl) -> bool:
    return url.scheme in ("http", "https") and (url.host in LOCAL_ENDPOINT_HOSTS or is_loopback_ip(url.host))


def only_provider_or_loopback(url: HttpUrl, info: Any) -> HttpUrl:
    """A provider URL setting: its production host exactly, or a loopback simulator."""
    host = PROVIDER_HOSTS[info.field_name]
    bare = url.username is None and url.password is None and not url.query and not url.fragment
    if bare and url.path in (None, "", "/"):
        if url.scheme == "https" and url.host == host and url.port == 443:
            return url
        if is_local(url):
            return url
    raise ValueError(f"{info.field_name.upper()} must be https://{host} or a loopback simulator")


def parse_pairs(value: object) -> object:
    """``name=value,name=value`` (the environment's form) as a dict; a dict passes as it is."""
    if not isinstance(value, str):
        return value
    pairs: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        name, sep, given = part.partition("=")
        if not sep or not name.strip() or not given.strip():
            raise ValueError(f"{part!r} is not name=value")
        pairs[name.strip()] = given.strip()
    return pairs


def parse_screens(value: object) -> object:
    """SCREENS: ``screen=provider`` pairs; ``screen=off`` (the template's default) names no provider."""
    pairs = parse_pairs(value)
    return {k: v for k, v in pairs.items() if v != "off"} if isinstance(pairs, dict) else pairs


def check_screening(settings: Any) -> Any:
    """Every screen named is known and answered by a provider that can, with its key's secret and, for a
    sealed phone number (needed to screen a lead again at retry or call time), the KMS key."""
    for screen, provider in settings.screens.items():
        if screen not in SCREEN_PROVIDERS:
            raise ValueError(f"SCREENS: unknown screen {screen!r} (known: {', '.join(SCREEN_PROVIDERS)})")
        if provider not in SCREEN_PROVIDERS[screen]:
            raise ValueError(f"SCREENS: {screen} is answered by {' or '.join(SCREEN_PROVIDERS[screen])}")
        if not getattr(settings, f"{provider}_secret_id"):
            raise ValueError(f"SCREENS names {provider}: {provider.upper()}_SECRET_ID is required")
    for name, table in (
        ("SCREEN_FAULT_POLICIES", settings.screen_fault_policies),
        ("SCREEN_COSTS", settings.screen_costs),
    ):
        unknown = set(table) - set(PROVIDERS)
        if unknown:
            raise ValueError(f"{name}: unknown provider {sorted(unknown)[0]!r} (known: {', '.join(PROVIDERS)})")
    if any(cost < 0 for cost in settings.screen_costs.values()):
        raise ValueError("SCREEN_COSTS: a cost is at least 0")
    unknown = set(settings.screen_cache_hours) - set(SCREEN_PROVIDERS)
    if unknown:
        raise ValueError(f"SCREEN_CACHE_HOURS: unknown screen {sorted(unknown)[0]!r}")
    if any(not 0 < hours <= 24 * 31 for hours in settings.screen_cache_hours.values()):
        raise ValueError("SCREEN_CACHE_HOURS: each between 0 and 744 (31 days)")
    if any(screen != "leadid" for screen in settings.screens) and not settings.contact_key_id:
        raise ValueError("SCREENS needs CONTACT_KEY_ID: the KMS key a screened phone number is sealed with")
    return settings
