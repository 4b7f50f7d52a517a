"""`vendors callback set|show|remove`: the URL a vendor's leads that leave pending are POSTed to, signed with a
secret shown once (tf_retainer.events.callbacks checks the URL)."""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from tf_retainer.events.callbacks import CallbackRefused, check_url
from tf_retainer.store.vendor_callbacks import NoSealingKey

from ..context import Command, Context, Group, argument, now
from ..target import OpsError


def cmd_callback_set(ctx: Context) -> int:
    """A new signing secret each time (shown once): setting the URL again rotates it."""
    try:
        url = check_url(ctx.args.url, allow_private=ctx.target.source == "local")
    except CallbackRefused as refused:
        raise OpsError(f"{ctx.args.url}: {refused} ({refused.reason})") from None
    secret = secrets.token_urlsafe(32)
    try:
        target = ctx.callbacks.put(ctx.args.name, url, secret, now=now())
    except NoSealingKey as exc:
        raise OpsError(f"{exc}: use --stack / --local, or give --callback-key-id") from None

    def human(_: Any) -> None:
        ctx.print(f"vendor {target.vendor}: callbacks to {target.url}")
        ctx.print("signing secret (shown once; the vendor verifies X-TF-Retainer-Signature with it):")
        ctx.print(f"  {secret}")

    ctx.emit({"vendor": target.vendor, "url": target.url, "secret": secret}, human)
    return 0


def cmd_callback_show(ctx: Context) -> int:
    target = ctx.callbacks.registration(ctx.args.name)
    if target is None:
        raise OpsError(f"vendor {ctx.args.name} has no callback URL", code=1)
    data = {"vendor": target.vendor, "url": target.url, "active": target.active, "changed_at": target.changed_at}
    ctx.emit(data, lambda _: ctx.print(f"{target.vendor}: {target.url} ({'active' if target.active else 'removed'})"))
    return 0


def cmd_callback_remove(ctx: Context) -> int:
    store = ctx.callbacks
    target = store.registration(ctx.args.name)
    if target is None or not target.active:
        raise OpsError(f"vendor {ctx.args.name} has no active callback URL", code=1)
    store.set_active(target.vendor, False, now=now())
    ctx.emit({"vendor": target.vendor, "active": False}, lambda _: ctx.print(f"{target.vendor}: callbacks stopped"))
    return 0


def cmd_callback_seal(ctx: Context) -> int:
    """Seal the secrets stored in clear before secrets were sealed (each vendor keeps its secret)."""
    vendors = ctx.args.names or ctx.vendors()
    try:
        sealed = [vendor for vendor in vendors if ctx.callbacks.seal(vendor)]
    except NoSealingKey as exc:
        raise OpsError(f"{exc}: use --stack / --local, or give --callback-key-id") from None
    ctx.emit(
        {"sealed": sealed, "looked_at": len(vendors)},
        lambda _: ctx.print(f"{len(sealed)} callback secret(s) sealed, of {len(vendors)} vendor(s) looked at"),
    )
    return 0


def _set_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("url", help="https URL on a public host (checked again at every send)")


COMMANDS = (
    Group(("vendors", "callback"), "a vendor's callback URL"),
    Command(
        ("vendors", "callback", "set"),
        cmd_callback_set,
        "register the URL a vendor's leads that leave pending are POSTed to",
        _set_arguments,
    ),
    Command(
        ("vendors", "callback", "show"),
        cmd_callback_show,
        "a vendor's callback URL (never its secret)",
        argument("name"),
    ),
    Command(("vendors", "callback", "remove"), cmd_callback_remove, "stop calling a vendor back", argument("name")),
    Command(
        ("vendors", "callback", "seal"),
        cmd_callback_seal,
        "seal callback secrets stored in clear (before sealing): every vendor with a key, or those named",
        argument("names", nargs="*", metavar="NAME"),
    ),
)
