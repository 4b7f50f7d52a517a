"""`lead show|exchanges LEAD_ID`, `cert show CERT_ID`: one lead or certificate as the service stored it, from
its evidence record (tf_retainer.evidence.record)."""

from __future__ import annotations

import json
from typing import Any

from tf_retainer.domain.lead import Lead
from tf_retainer.domain.leadid import InvalidLeadidToken, parse_leadid_token
from tf_retainer.evidence.record import CertificateEvidence, EvidenceRecord, evidence_record

from ..context import Command, Context, Group, argument, fmt, history_lines
from ..evidence import NotFound


def _lead_record(ctx: Context) -> EvidenceRecord:
    record = evidence_record(ctx.store.reader, ctx.args.lead_id)
    if record is None:
        raise NotFound(f"no lead {ctx.args.lead_id}")
    return record


def cmd_lead_show(ctx: Context) -> int:
    record = _lead_record(ctx)
    history = [event.model_dump(mode="json") for event in record.history]
    data = {"state": record.state, "history": history, "exchanges": len(record.exchanges)}

    def human(_: Any) -> None:
        s = record.state
        ctx.print(f"lead {s['lead_id']}  vendor {s.get('vendor')}  vendor lead id {fmt(s.get('vendor_lead_id'))}")
        rows = [
            ("status", s.get("status")),
            ("reason", s.get("reason")),
            ("certificate", _certificate_line(s)),
            ("leadid token", s.get("leadid_token")),
            ("kept on", ", ".join(Lead.model_validate(s).kept_on() or []) or None),
            ("masked", f"{fmt(s.get('masked'))}  {fmt(s.get('masked_cert_url'))}"),
            ("received", s.get("received_at")),
            ("deadline", s.get("deadline")),
            ("attempts", f"{s.get('attempts')} (burned {s.get('burned_attempts')})"),
            ("next attempt", s.get("next_attempt_at")),
            ("expires", s.get("expires_at")),
            ("lead match", s.get("lead_match")),
            ("final at", s.get("final_at")),
        ]
        for label, value in rows:
            ctx.print(f"{label:<13} {fmt(value)}")
        ctx.print("history:")
        history_lines(ctx, history)
        ctx.print(f"exchanges: {len(record.exchanges)}  (tf-retainer lead exchanges {s['lead_id']})")

    ctx.emit(data, human)
    return 0


def cmd_lead_exchanges(ctx: Context) -> int:
    record = _lead_record(ctx)

    def human(exchanges: list[dict[str, Any]]) -> None:
        if not exchanges:
            ctx.print("no exchanges with TrustedForm (the lead was refused before any retain)")
        for exchange in exchanges:
            _print_exchange(ctx, exchange)

    ctx.emit(record.exchanges, human)
    return 0


def _print_exchange(ctx: Context, exchange: dict[str, Any]) -> None:
    request, response = exchange.get("request") or {}, exchange.get("response")
    ctx.print(
        f"--- attempt {exchange.get('attempt')}  {exchange.get('started_at')}  "
        f"{exchange.get('duration_ms')} ms" + (f"  error={exchange['error']}" if exchange.get("error") else "")
    )
    ctx.print(f"> {request.get('method', 'POST')} {request.get('url', '')}")
    for name, value in (request.get("headers") or {}).items():
        ctx.print(f"> {name}: {value}")
    ctx.print(f"> {_pretty(request.get('body'))}")
    if response:
        ctx.print(f"< {response.get('status')}")
        for name, value in (response.get("headers") or {}).items():
            ctx.print(f"< {name}: {value}")
        ctx.print(f"< {_pretty(response.get('body'))}")
    elif exchange.get("error_detail"):
        ctx.print(f"! {exchange['error_detail']}")


def _certificate_line(state: dict[str, Any]) -> str:
    if state.get("cert_id") is None:
        return "none (kept on its LeadiD token alone)"
    return f"{state.get('cert_id')} ({state.get('cert_kind')})  {state.get('certificate_url')}"


def _pretty(body: Any) -> str:
    if isinstance(body, str):
        try:
            return json.dumps(json.loads(body), indent=2).replace("\n", "\n  ")
        except ValueError:
            return body
    return fmt(body)


def cmd_cert_show(ctx: Context) -> int:
    """A certificate's claim; given a LeadiD token, that token's (held by a lead without a certificate)."""
    try:
        token: str | None = parse_leadid_token(ctx.args.cert_id)
    except InvalidLeadidToken:
        token = None
    if token is not None:
        found = ctx.store.reader.read_leadid(token)
        record = CertificateEvidence.of(None, found, leadid_token=token)
    else:
        found = ctx.store.reader.read_certificate(ctx.args.cert_id)
        record = CertificateEvidence.of(ctx.args.cert_id, found)
    if found is None:
        raise NotFound(f"no {'LeadiD token' if token else 'certificate'} {ctx.args.cert_id}")
    data = record.model_dump(mode="json")

    def human(_: Any) -> None:
        ctx.print(f"LeadiD token {token}" if token else f"certificate {record.cert_id}")
        claim = record.claim or {}
        if not claim:
            ctx.print("no claim (no lead holds it)")
        for key in ("lead_id", "vendor", "status", "claimed_at", "masked", "masked_cert_url", "expires_at"):
            if key in claim:
                ctx.print(f"{key:<16} {fmt(claim[key])}")
        ctx.print("history:")
        history_lines(ctx, data["history"])

    ctx.emit(data, human)
    return 0


COMMANDS = (
    Group(("lead",), "one lead"),
    Command(("lead", "show"), cmd_lead_show, "a lead's state and history", argument("lead_id")),
    Command(("lead", "exchanges"), cmd_lead_exchanges, "a lead's raw TrustedForm exchanges", argument("lead_id")),
    Group(("cert",), "one certificate"),
    Command(
        ("cert", "show"),
        cmd_cert_show,
        "a certificate's claim and history (or a LeadiD token's, held by a lead without a certificate)",
        argument("cert_id"),
    ),
)
