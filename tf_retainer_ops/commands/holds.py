"""`tf-retainer hold set|release|list`: legal holds (tf_retainer.evidence.legal_hold does the work).

A hold by consumer takes the email or phone in clear and fingerprints it exactly as `evidence find` does
(the clear value goes no further), or the fingerprint itself; the hold keeps the consumer index's keyed
tokens of the fingerprints, so nothing it stores can be reversed to the number without the consumer key.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tf_retainer.evidence import legal_hold as holds
from tf_retainer.ports.evidence import Hold

from ..consumer import Spelling, spellings
from ..context import Command, Context, Group
from ..target import OpsError

SHA1 = re.compile(r"^[0-9a-f]{40}$")


def scope_of(args: argparse.Namespace) -> tuple[str, str, list[Spelling]]:
    """(scope, value, the consumer's spellings) of `hold set`: a clear email or phone becomes the
    fingerprints of every spelling `evidence find` searches (the first is the value as given)."""
    if args.lead:
        return "lead", args.lead, []
    if args.vendor:
        return "vendor", args.vendor, []
    if args.email is not None or args.phone is not None:
        found = spellings(email=args.email, phone=args.phone)
        return found[0].kind, found[0].fingerprint, found
    kind, given = ("email", args.email_sha1) if args.email_sha1 else ("phone", args.phone_sha1)
    if not SHA1.match(given.lower()):
        raise OpsError(f"--{kind}-sha1 takes a SHA-1 fingerprint (40 hex digits), as `evidence find` prints")
    return kind, given.lower(), [Spelling(kind, "the fingerprint given", given.lower())]


def _brief(hold: Hold) -> dict[str, Any]:
    return hold.model_dump(mode="json", exclude_none=True)


def cmd_hold_set(ctx: Context) -> int:
    scope, value, spelt = scope_of(ctx.args)
    now = datetime.now(UTC)
    reason, actor = ctx.args.reason, ctx.actor
    try:
        if spelt:  # by consumer: kept as the index's keyed tokens of the spellings' fingerprints
            fingerprints = [spelling.fingerprint for spelling in spelt]
            hold = holds.consumer_hold(
                ctx.store.index, kind=scope, fingerprints=fingerprints, reason=reason, actor=actor, now=now
            )
        else:
            hold = holds.new_hold(scope=scope, value=value, reason=reason, actor=actor, now=now)
        lock = ctx.archive.bucket.legal_hold  # the bucket is in each object's URI
        report = holds.set_hold(ctx.store, ctx.holds, hold, now=now, lock_archive=lock)
    except holds.HoldError as exc:
        raise OpsError(str(exc), 1) from exc
    data: dict[str, Any] = {"hold": _brief(hold), "leads": report.covered, "items_held": report.items_held}
    # Each spelling's fingerprint (what `evidence find` prints) and what it covered, under its token.
    data["spellings"] = [
        {
            "spelling": s.label,
            "fingerprint": s.fingerprint,
            "leads": len(report.by_value.get(ctx.store.index.consumer_token(scope, s.fingerprint), [])),
        }
        for s in spelt
    ]

    def human(d: dict[str, Any]) -> None:
        ctx.print(f"hold {hold.hold_id}: {scope} {value}, {len(report.covered)} lead(s) held ({hold.reason})")
        for spelling in d["spellings"]:
            ctx.print(f"  under {spelling['spelling']}: {spelling['leads']} lead(s) (sha1 {spelling['fingerprint']})")
        for lead_id in report.covered:
            ctx.print(f"  {lead_id}")
        if scope != "lead":
            ctx.print("leads that arrive later are held by the daily hold run (HoldFunction)")

    ctx.emit(data, human)
    return 0


def cmd_hold_release(ctx: Context) -> int:
    try:
        hold, released = holds.release_hold(
            ctx.store,
            ctx.holds,
            ctx.args.hold_id,
            actor=ctx.actor,
            reason=ctx.args.reason,
            now=datetime.now(UTC),
            # The retention the CLI's store writes with (Context.store): a released hold's records get it.
            retention=timedelta(days=ctx.settings.evidence_retention_days),
            grace=timedelta(days=ctx.args.grace_days),
        )
    except holds.HoldError as exc:
        raise OpsError(str(exc), 1) from exc
    data = {"hold": _brief(hold), "leads_released": released}
    ctx.emit(
        data,
        lambda d: ctx.print(
            f"hold {hold.hold_id} released: {released} lead(s) expire again (unless another hold covers them)"
        ),
    )
    return 0


def cmd_hold_list(ctx: Context) -> int:
    active = ctx.holds.active_holds()
    data = [_brief(hold) for hold in active]

    def human(rows: list[dict[str, Any]]) -> None:
        ctx.print(f"{len(rows)} active hold(s)")
        for row in rows:
            ctx.print(
                f"  {row['hold_id']}  {row['scope']:<6} {row['value']}{_others(row)}  leads {row['leads']}  "
                f"set {row['set_at']} by {row['set_by']}  reason: {row['reason']}"
            )

    ctx.emit(data, human)
    return 0


def _others(row: dict[str, Any]) -> str:
    return f" (+{len(row['also'])} other spelling(s))" if row.get("also") else ""


def _set_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--lead", metavar="LEAD_ID", help="one lead (our lead id)")
    scope.add_argument("--email", help="every lead with this email, any vendor (fingerprinted; never stored)")
    scope.add_argument(
        "--phone", help="every lead with this phone in any usual spelling, any vendor (fingerprinted; never stored)"
    )
    scope.add_argument("--email-sha1", metavar="SHA1", help="every lead with this email fingerprint")
    scope.add_argument("--phone-sha1", metavar="SHA1", help="every lead with this phone fingerprint")
    scope.add_argument("--vendor", help="every lead of this vendor")
    parser.add_argument("--reason", required=True, help="the case or matter reference")
    parser.add_argument("--actor", help="who sets it (default: your user name)")


def _release_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hold_id")
    parser.add_argument("--reason", help="why (e.g. the matter closed)")
    parser.add_argument("--actor", help="who releases it (default: your user name)")
    parser.add_argument(
        "--grace-days", type=float, default=holds.RELEASE_GRACE.days, help="expiry for items already past theirs"
    )


COMMANDS = (
    Group(("hold",), "legal holds: keep leads' evidence past retention"),
    Command(
        ("hold", "set"),
        cmd_hold_set,
        "hold a lead, a consumer's leads or a vendor's leads (and later ones)",
        _set_arguments,
    ),
    Command(
        ("hold", "release"), cmd_hold_release, "release a hold: its leads' evidence expires again", _release_arguments
    ),
    Command(("hold", "list"), cmd_hold_list, "active holds: scope, reason, who, when, leads covered"),
)
