"""`revocations add|import|list|show`: consumers' revocations of consent (the ledger the call gate reads).

An operator records one as the API does (the same use case: tokenized as the consumer index is, closing every
lead of the consumer at once, applied to each lead's evidence), as ``operator:<actor>``. The clear phone or
email goes no further than the consumer key's tokens.
"""

from __future__ import annotations

import argparse
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.revocation import Recorder
from tf_retainer.leads import revocations as use_case

from ..context import Command, Context, Group, argument, fmt, now, parse_since
from ..revocations import RevocationsInvalid, brief, read_requests, request
from ..target import OpsError

VIAS = ("sms", "email", "web", "agent", "phone", "mail", "other")


def _recorder(ctx: Context) -> Recorder:
    return Recorder(role="operator", name=ctx.actor)


def _invalid(ctx: Context, errors: list[str]) -> OpsError:
    for error in errors:
        ctx.note(f"tf-retainer: {error}")
    return OpsError(f"{len(errors)} error(s): nothing written")


def _record(ctx: Context, requests: list[Any]) -> list[dict[str, Any]]:
    answers = []
    for item in requests:
        try:
            answers.append(use_case.record(ctx.lead_deps, item, _recorder(ctx)).model_dump(mode="json"))
        except InputRejected as refused:
            answers.append(
                {"id": item.id, "status": "refused", "reason": refused.reason.value, "detail": refused.detail}
            )
    return answers


def _print_answers(ctx: Context, answers: list[dict[str, Any]]) -> None:
    for answer in answers:
        if answer["status"] == "refused":
            ctx.print(f"{answer['id']}: refused ({answer['reason']}: {answer['detail']})")
            continue
        applied = (
            f"applied to {answer['leads']} lead(s) at {answer['honored_at']}"
            if answer["honored_at"]
            else ("recorded; its leads are being applied to (the scheduled run finishes)")
        )
        ctx.print(
            f"{answer['id']}: {answer['status']} as {answer['revocation_id']}, expressed {answer['expressed_at']}, "
            f"honour by {answer['honor_by']}; {applied}"
        )


def cmd_revocations_add(ctx: Context) -> int:
    args = ctx.args
    data: dict[str, Any] = {
        "id": args.id or f"operator-{uuid.uuid4().hex[:16]}",
        "phone": args.phone,
        "email": args.email,
        "expressed_at": args.expressed_at,
        "via": args.via,
        "brand": args.brand,
        "channels": args.channels.replace(",", " ").split() if args.channels else None,
        "message": args.message,
    }
    try:
        item = request({name: value for name, value in data.items() if value is not None})
    except RevocationsInvalid as invalid:
        raise _invalid(ctx, invalid.errors) from invalid
    answers = _record(ctx, [item])
    ctx.emit(answers[0], lambda _: _print_answers(ctx, answers))
    return 1 if answers[0]["status"] == "refused" else 0


def cmd_revocations_import(ctx: Context) -> int:
    try:
        requests = read_requests(Path(ctx.args.file))
    except RevocationsInvalid as invalid:
        raise _invalid(ctx, invalid.errors) from invalid
    answers = _record(ctx, requests)
    counts = {status: sum(a["status"] == status for a in answers) for status in ("recorded", "repeated", "refused")}

    def human(_: Any) -> None:
        _print_answers(ctx, answers)
        ctx.print(" ".join(f"{status}={count}" for status, count in counts.items()))

    ctx.emit({"counts": counts, "results": answers}, human)
    return 1 if counts["refused"] else 0


def cmd_revocations_list(ctx: Context) -> int:
    moment = now()
    if ctx.args.open:
        found = ctx.ledger.unhonoured()
    else:
        since = parse_since(ctx.args.since, moment)
        until = parse_since(ctx.args.until, moment) if ctx.args.until else None
        found = ctx.ledger.listed(since=since, until=until)
    rows = [brief(revocation) for revocation in found]

    def human(_: Any) -> None:
        ctx.print(f"{len(rows)} revocation(s){' not yet applied to every lead' if ctx.args.open else ''}")
        for row in rows:
            scope = f"{row['brand']}/{'+'.join(row['channels'])}"
            ctx.print(
                f"  {row['revocation_id']}  {row['expressed_at']}  {row['via']:<6} {scope:<24} "
                f"by {row['recorded_by']:<24} honour by {row['honor_by'][:10]}  "
                f"{'applied ' + row['honored_at'] if row['honored_at'] else 'NOT YET APPLIED'}"
            )

    ctx.emit(rows, human)
    return 0


def cmd_revocations_show(ctx: Context) -> int:
    revocation = ctx.ledger.get(ctx.args.revocation_id)
    if revocation is None:
        raise OpsError(f"no revocation {ctx.args.revocation_id}", 1)
    data = revocation.model_dump(mode="json", exclude={"content_hash"})

    def human(_: Any) -> None:
        for name, value in brief(revocation).items():
            ctx.print(f"{name:<14} {fmt(value)}")
        ctx.print(f"{'keyword':<14} {fmt(revocation.keyword)}  (the message is one of the words that revoke alone)")
        ctx.print(f"{'message':<14} {fmt(revocation.message)}")
        for kind, tokens in revocation.consumer.items():  # the consumer index's keyed tokens, one per spelling
            ctx.print(f"{kind + ' tokens':<14} {' '.join(tokens)}")
        ctx.print(f"{'leads':<14} {' '.join(revocation.leads) or '-'}")

    ctx.emit(data, human)
    return 0


def _timestamp(text: str) -> str:
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            "an ISO date/time with its UTC offset, e.g. 2026-11-23T14:05:00-05:00"
        ) from exc
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError("give the UTC offset (e.g. -05:00 or Z): when, where the consumer said it")
    return when.isoformat()


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phone", help="the consumer's phone, any spelling (stored only as keyed tokens)")
    parser.add_argument("--email", help="the consumer's email (stored only as a keyed token)")
    parser.add_argument("--id", help="your id for it (recording it again changes nothing); default: a new one")
    parser.add_argument("--expressed-at", type=_timestamp, help="when the consumer said it (default: now)")
    parser.add_argument("--via", choices=VIAS, default="agent", help="how it came (default: agent)")
    parser.add_argument("--brand", help="one brand or advertiser it names (default: all)")
    parser.add_argument("--channels", help="what it stops: call,text,email (default: all three)")
    parser.add_argument("--message", help="the consumer's words, as received (kept as evidence)")
    parser.add_argument("--actor", help="who records it (default: your user name)")


def _import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="CSV with a header, or JSON Lines (.jsonl): the API's fields")
    parser.add_argument("--actor", help="who records them (default: your user name)")


def _list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", default="30d", help="recorded since: 30m, 24h, 7d, 2w or an ISO date (default 30d)")
    parser.add_argument("--until", help="recorded until (same forms)")
    parser.add_argument("--open", action="store_true", help="only those not yet applied to every lead")


COMMANDS = (
    Group(("revocations",), "consumers' revocations of consent: the ledger the call gate reads"),
    Command(("revocations", "add"), cmd_revocations_add, "record one (the gate closes at once)", _add_arguments),
    Command(("revocations", "import"), cmd_revocations_import, "record every revocation of a file", _import_arguments),
    Command(("revocations", "list"), cmd_revocations_list, "revocations recorded, and when applied", _list_arguments),
    Command(
        ("revocations", "show"),
        cmd_revocations_show,
        "one revocation: scope, words, the consumer's index tokens, its leads",
        argument("revocation_id"),
    ),
)
