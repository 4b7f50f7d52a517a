"""`vendors add|list|show|revoke|suspend|resume`: vendors' API keys (tf_retainer_ops.vendors does the work).
A new key is printed once, never again."""

from __future__ import annotations

import argparse
from typing import Any

from ..context import Command, Context, Group, argument, fmt, now
from ..vendors import add_vendor, list_vendors, revoke_vendor, set_vendor_suspended, show_vendor


def cmd_vendors_add(ctx: Context) -> int:
    role = "buyer" if ctx.args.buyer else "vendor"
    added = add_vendor(ctx.target, ctx.vendor_keys, ctx.args.name, now=now(), role=role)
    for note in added.notes:
        ctx.note(f"note: {note}")
    data = {
        "vendor": added.vendor,
        "api_key": added.api_key,
        "key_hash": added.key_hash,
        "key_hint": added.key_hint,
        "api_gateway_key_id": added.gateway_key_id,
        "role": role,
    }

    def human(_: Any) -> None:
        what = "buyer-system key" if role == "buyer" else "API key"
        ctx.print(f"{role} {added.vendor}: new {what} (shown once, store it now; send it as x-api-key):")
        ctx.print(f"  {added.api_key}")
        ctx.print(f"key hash {added.key_hash[:12]}  hint ...{added.key_hint}")
        if added.gateway_key_id:
            ctx.print(f"API Gateway key {added.gateway_key_id} attached to usage plan {ctx.target.usage_plan_id}")

    ctx.emit(data, human)
    return 0


def cmd_vendors_list(ctx: Context) -> int:
    rows = list_vendors(ctx.vendor_keys)

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            ctx.print("no vendor keys")
            return
        ctx.print(f"{'vendor':<24} {'active':<7} {'created':<28} {'hint':<8} key hash")
        for row in rows:
            ctx.print(
                f"{row['vendor']:<24} {_key_state(row):<7} {fmt(row['created_at']):<28} "
                f"...{row['key_hint'] or '':<5} {row['key_hash'][:12]}"
            )

    ctx.emit(rows, human)
    return 0


def cmd_vendors_show(ctx: Context) -> int:
    data = show_vendor(ctx.vendor_keys, ctx.args.name)

    def human(d: dict[str, Any]) -> None:
        suspension = d["suspended"]
        if suspension:
            standing = f"suspended by {suspension.get('by')} at {suspension.get('at')}: {suspension.get('reason')}"
        else:
            standing = "accepted" + (f" (resumed {d['resumed_at']})" if d["resumed_at"] else "")
        ctx.print(f"vendor {d['vendor']}: {standing}")
        ctx.print(f"keys: {len(d['keys'])}")
        for row in d["keys"]:
            hint, state = row["key_hint"] or "", _key_state(row)
            ctx.print(f"  {row['key_hash'][:12]}  ...{hint:<5} {state:<6} created {row['created_at']}")
        ctx.print("history (oldest first):" if d["history"] else "history: none")
        for event in d["history"]:
            detail = " ".join(f"{k}={v}" for k, v in (event["detail"] or {}).items())
            ctx.print(
                f"  {event['at']}  {event['type']:<17} {event['actor']:<14} keys={event['keys']}  {detail}".rstrip()
            )

    ctx.emit(data, human)
    return 0


def _key_state(row: dict[str, Any]) -> str:
    return "no" if not row["active"] else "susp." if row.get("suspended") else "yes"


def _set_suspended(ctx: Context, suspended: bool) -> int:
    reason = ctx.args.reason if suspended else None
    actor = ctx.actor
    standing = set_vendor_suspended(
        ctx.vendor_keys, ctx.args.name, suspended=suspended, reason=reason, actor=actor, now=now()
    )
    data = {"vendor": standing.vendor, "suspended": suspended, "keys_changed": standing.key_hashes, "actor": actor}
    what = f"suspended ({reason})" if suspended else "resumed"

    def human(_: Any) -> None:
        ctx.print(f"vendor {standing.vendor}: {what} by {actor}, {len(standing.key_hashes)} key(s) changed")
        ctx.print("the authorizer applies it once its cache (60 s) expires")

    ctx.emit(data, human)
    return 0


def cmd_vendors_suspend(ctx: Context) -> int:
    return _set_suspended(ctx, True)


def cmd_vendors_resume(ctx: Context) -> int:
    return _set_suspended(ctx, False)


def cmd_vendors_revoke(ctx: Context) -> int:
    revoked = revoke_vendor(ctx.target, ctx.vendor_keys, ctx.args.name, key_hash_prefix=ctx.args.key_hash, now=now())
    for note in revoked.notes:
        ctx.note(f"note: {note}")
    data = {
        "vendor": revoked.vendor,
        "revoked": revoked.key_hashes,
        "api_gateway_keys_disabled": revoked.gateway_keys_disabled,
    }

    def human(_: Any) -> None:
        ctx.print(f"vendor {revoked.vendor}: revoked {len(revoked.key_hashes)} key(s)")
        for digest in revoked.key_hashes:
            ctx.print(f"  {digest[:12]}")
        if revoked.gateway_keys_disabled:
            ctx.print(f"disabled API Gateway key(s): {', '.join(revoked.gateway_keys_disabled)}")
        ctx.print("requests with a revoked key get 403 once the authorizer cache (60 s) expires")

    ctx.emit(data, human)
    return 0


def _revoke_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("--key-hash", help="only this key (hash or a unique prefix, from `vendors list`)")


def _suspend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("--reason", required=True, help="why (recorded on the keys with who and when)")
    parser.add_argument("--actor", help="who suspends (default: your user name)")


def _resume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("--actor", help="who resumes (default: your user name)")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument(
        "--buyer",
        action="store_true",
        help="a buyer-system key (your CRM, dialer, SMS platform): records revocations and contacts for any "
        "consumer and asks the gate about any lead; posts no lead",
    )


COMMANDS = (
    Group(("vendors",), "vendor API keys"),
    Command(("vendors", "add"), cmd_vendors_add, "create a vendor key (printed once)", _add_arguments),
    Command(("vendors", "list"), cmd_vendors_list, "vendors and their keys (hints only)"),
    Command(("vendors", "show"), cmd_vendors_show, "a vendor's keys, suspension and history", argument("name")),
    Command(("vendors", "revoke"), cmd_vendors_revoke, "revoke a vendor's keys", _revoke_arguments),
    Command(
        ("vendors", "suspend"), cmd_vendors_suspend, "refuse every key of a vendor until resumed", _suspend_arguments
    ),
    Command(("vendors", "resume"), cmd_vendors_resume, "lift a vendor's suspension", _resume_arguments),
)
