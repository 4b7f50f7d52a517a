"""Vendor API keys: stored hashed in the table (the authorizer's source of truth) and, on a deployed
stack, mirrored as API Gateway API keys attached to the usage plan (per-vendor throttling/quota)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tf_retainer.store.keys import key_hash
from tf_retainer.store.vendor_keys import VendorKeyStore

from .target import OpsError, Target

VENDOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _gateway_key_name(target: Target, vendor: str, digest: str) -> str:
    return f"{target.stack_name or 'tf-retainer'}-{vendor}-{digest[:12]}"


@dataclass
class AddedVendor:
    vendor: str
    api_key: str
    key_hash: str
    key_hint: str
    gateway_key_id: str | None = None
    notes: list[str] = field(default_factory=list)


def add_vendor(
    target: Target, store: VendorKeyStore, vendor: str, *, now: datetime, role: str = "vendor"
) -> AddedVendor:
    """A new key for a vendor (``role`` "buyer": a buyer-system key, for the buyer's CRM, dialer or SMS
    platform: revocations and contacts for any consumer, the gate for any lead, no lead posted)."""
    if not VENDOR_NAME.fullmatch(vendor):
        raise OpsError("vendor name: 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)")
    if any(key.vendor == vendor and key.suspended for key in store.list()):
        # A new key would pass the authorizer while the vendor's other keys are refused.
        raise OpsError(f"vendor {vendor} is suspended: tf-retainer vendors resume {vendor} first", code=1)
    api_key = secrets.token_urlsafe(32)
    digest = key_hash(api_key)
    added = AddedVendor(vendor=vendor, api_key=api_key, key_hash=digest, key_hint=api_key[-4:])
    if target.usage_plan_id:
        # API Gateway first: the key only starts to work once the authorizer's item exists, and by
        # then the usage plan knows it (an unknown usage identifier would get 403 from API Gateway).
        apigw = target.client("apigateway")
        created = apigw.create_api_key(
            name=_gateway_key_name(target, vendor, digest),
            description=f"tf-retainer vendor {vendor}",
            enabled=True,
            value=api_key,
            tags={"service": "tf-retainer", "vendor": vendor, "key_hash": digest},
        )
        added.gateway_key_id = created["id"]
        try:
            apigw.create_usage_plan_key(usagePlanId=target.usage_plan_id, keyId=created["id"], keyType="API_KEY")
        except Exception:
            apigw.delete_api_key(apiKey=created["id"])
            raise
    else:
        added.notes.append("no UsagePlanId: no API Gateway key created (per-vendor throttling does not apply)")
    try:
        store.put(api_key, vendor, now=now, role=role)
    except Exception:
        if added.gateway_key_id:
            target.client("apigateway").delete_api_key(apiKey=added.gateway_key_id)
        raise
    return added


def list_vendors(store: VendorKeyStore) -> list[dict[str, Any]]:
    rows = [
        {
            "vendor": key.vendor,
            "active": key.active,
            "created_at": key.created_at,
            "changed_at": key.changed_at,
            "key_hint": key.key_hint,
            "key_hash": key.key_hash,
            "suspended": key.suspended,
            "resumed_at": key.resumed_at,
            "role": key.role,
        }
        for key in store.list()
    ]
    return sorted(rows, key=lambda row: (row["vendor"] or "", row["created_at"] or ""))


@dataclass
class Revoked:
    vendor: str
    key_hashes: list[str]
    gateway_keys_disabled: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def revoke_vendor(
    target: Target, store: VendorKeyStore, vendor: str, *, key_hash_prefix: str | None, now: datetime
) -> Revoked:
    keys = [row for row in list_vendors(store) if row["vendor"] == vendor]
    if key_hash_prefix:
        keys = [row for row in keys if row["key_hash"].startswith(key_hash_prefix.lower())]
        if len(keys) > 1:
            raise OpsError(f"--key-hash {key_hash_prefix} matches {len(keys)} keys of {vendor}: give more characters")
    if not keys:
        what = f"key {key_hash_prefix} of vendor {vendor}" if key_hash_prefix else f"keys for vendor {vendor}"
        raise OpsError(f"no {what}", code=1)
    revoked = Revoked(vendor=vendor, key_hashes=[])
    for row in keys:
        if store.set_active(row["key_hash"], False, now=now):
            revoked.key_hashes.append(row["key_hash"])
    if target.usage_plan_id or target.deployed:
        revoked.gateway_keys_disabled = _disable_gateway_keys(target, vendor, set(revoked.key_hashes))
        if len(revoked.gateway_keys_disabled) < len(revoked.key_hashes):
            revoked.notes.append("some keys had no API Gateway key (added before it was mirrored?)")
    return revoked


def _disable_gateway_keys(target: Target, vendor: str, hashes: set[str]) -> list[str]:
    apigw = target.client("apigateway")
    prefix = f"{target.stack_name or 'tf-retainer'}-{vendor}-"
    disabled = []
    for page in apigw.get_paginator("get_api_keys").paginate(nameQuery=prefix, includeValues=False):
        for key in page.get("items", []):
            tagged = (key.get("tags") or {}).get("key_hash")
            named = key.get("name", "").removeprefix(prefix)
            if (tagged in hashes or any(h.startswith(named) for h in hashes if named)) and key.get("enabled"):
                apigw.update_api_key(
                    apiKey=key["id"], patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}]
                )
                disabled.append(key["id"])
    return disabled


@dataclass
class Standing:
    """A vendor suspended or resumed: the keys changed (revoked keys stay refused either way)."""

    vendor: str
    suspended: bool
    key_hashes: list[str]


def set_vendor_suspended(
    store: VendorKeyStore, vendor: str, *, suspended: bool, reason: str | None, actor: str, now: datetime
) -> Standing:
    """Suspend (with a reason) or resume every key of a vendor; the authorizer refuses a suspended
    vendor's keys with 403 vendor_suspended. Keys already in the wanted state are left alone."""
    if suspended and not (reason or "").strip():
        raise OpsError("a suspension needs --reason (it is recorded, with who and when)")
    keys = [key for key in store.list() if key.vendor == vendor]
    if not keys:
        raise OpsError(f"no keys for vendor {vendor}", code=1)
    changed = [
        key.key_hash
        for key in keys
        if (key.suspended is not None) != suspended
        and store.set_suspended(key.key_hash, suspended=suspended, reason=reason, actor=actor, now=now)
    ]
    return Standing(vendor=vendor, suspended=suspended, key_hashes=changed)


def show_vendor(store: VendorKeyStore, vendor: str) -> dict[str, Any]:
    """A vendor's standing: its keys, its suspension (who, when, why: an operator or the automatic
    threshold) and the history of its keys, oldest first. An event written under several keys at once
    (a suspension, a resume) is one line, with how many keys it touched."""
    keys = [row for row in list_vendors(store) if row["vendor"] == vendor]
    if not keys:
        raise OpsError(f"no keys for vendor {vendor}", code=1)
    suspensions = [row["suspended"] for row in keys if row["suspended"]]
    history: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in keys:
        for event in store.history(row["key_hash"]):
            same = (event["at"], event["type"], event["actor"], repr(event["detail"]))
            history.setdefault(same, {**event, "keys": 0})["keys"] += 1
    resumed = [row["resumed_at"] for row in keys if row.get("resumed_at")]
    return {
        "vendor": vendor,
        "suspended": max(suspensions, key=lambda s: s.get("at", "")) if suspensions else None,
        "resumed_at": max(resumed) if resumed else None,
        "keys": keys,
        "history": sorted(history.values(), key=lambda event: event["at"] or ""),
    }
