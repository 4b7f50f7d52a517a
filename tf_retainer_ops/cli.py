"""tf-retainer: the operator's command line (stdlib argparse + boto3).

    tf-retainer [--stack NAME | --local | --table T --queue-url Q --dlq-url D] [--json] COMMAND ...

    lead show LEAD_ID           state and history, oldest first
    lead exchanges LEAD_ID      raw TrustedForm exchanges (API key already redacted in the store)
    cert show CERT_ID           certificate claim and history
    evidence LEAD_ID [-o FILE]  one JSON evidence file for the lead (signed with the evidence KMS key),
                                from the table or, once archived, the S3 archive [--vendor V --received DAY]
    evidence find --phone P | --email E [--export DIR]
                                every lead of that consumer (any vendor); DIR: a bundle each + manifest
    evidence reindex [--vendor V]  put leads stored before the consumer index into it (once)
    evidence verify LEAD_ID     recompute a lead's stored evidence chain; names the first broken link
    verify FILE                 check an evidence file: its evidence chain, digest and signature
    vendors add|list|revoke     vendor API keys (a new key is printed once, never again)
    vendors show NAME           a vendor's keys, suspension (who, why) and key history
    vendors report [--since 30d] per-vendor scorecards (retained %, match failures, reuse, rules, ...)
    vendors suspend|resume NAME  refuse (403 vendor_suspended) or accept again a vendor's keys
    dlq redrive [--max N]       retry DLQ -> retry queue
    summary [--hours 24]        leads by status/reason, stuck leads, queue depths
    requeue LEAD_ID             put a stuck lead back on the retry queue
    rules show|set|test         the buyer's intake rule sets: versions, publish, backtest
    backfill FILE --vendor V    retain past leads from a CSV through the intake path (resumable)
    hold set|release|list       legal holds: a lead's, a consumer's or a vendor's evidence kept past retention

See docs/operations.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    TokenRetrievalError,
)
from tf_retainer import wiring

from . import __version__
from .evidence import NotFound
from .target import STACK_ENV, OpsError, Target, resolve

if TYPE_CHECKING:
    from tf_retainer.evidence.record import EvidenceRecord
    from tf_retainer.runtime.settings import Settings
    from tf_retainer.store.lead_table import LeadTable
    from tf_retainer.store.legal_holds import HoldStore
    from tf_retainer.store.rule_sets import RuleStore
    from tf_retainer.store.vendor_callbacks import VendorCallbackStore
    from tf_retainer.store.vendor_keys import VendorKeyStore

    from . import backfill
    from .evidence import Archive

# AWS error codes that mean "wrong target or no access" rather than a bug: exit 2.
TARGET_ERRORS = {
    "ResourceNotFoundException": "not found",
    "AWS.SimpleQueueService.NonExistentQueue": "queue not found",
    "QueueDoesNotExist": "queue not found",
    "UnrecognizedClientException": "credentials not accepted",
    "InvalidClientTokenId": "credentials not accepted",
    "ExpiredToken": "credentials expired",
    "ExpiredTokenException": "credentials expired",
    "AccessDenied": "access denied",
    "AccessDeniedException": "access denied",
}


# --- argument parsing ----------------------------------------------------------------------------


def _target_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The same options on the main parser and on every command (so they may go before or after it)."""
    default: Any = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("target")
    group.add_argument("--stack", default=default, help=f"deployed CloudFormation stack (default ${STACK_ENV})")
    group.add_argument(
        "--local", action="store_true", default=False if top else argparse.SUPPRESS, help="the local stack (make run)"
    )
    group.add_argument("--table", default=default, help="DynamoDB table name (explicit target)")
    group.add_argument("--queue-url", default=default, help="retry queue URL")
    group.add_argument("--dlq-url", default=default, help="retry dead-letter queue URL")
    group.add_argument("--events-queue-url", default=default, help="outcome events queue URL (LeadEventsQueueUrl)")
    group.add_argument("--endpoint-url", default=default, help="AWS endpoint (e.g. a moto server)")
    group.add_argument("--region", default=default, help="AWS region")
    group.add_argument("--usage-plan-id", default=default, help="API Gateway usage plan for vendor keys")
    group.add_argument("--evidence-key-id", default=default, help="KMS HMAC key that signs evidence bundles")
    group.add_argument("--archive-bucket", default=default, help="S3 bucket of the evidence archive")
    parser.add_argument(
        "--json", action="store_true", default=False if top else argparse.SUPPRESS, help="machine-readable output"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tf-retainer",
        description="Operate tf-retainer: leads, evidence, vendor keys, the retry queues, rules, backfills.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _target_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(sub: Any, name: str, handler: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        _target_options(p, top=False)
        p.set_defaults(handler=handler)
        return p

    lead = commands.add_parser("lead", help="one lead").add_subparsers(dest="lead_command", required=True)
    command(lead, "show", cmd_lead_show, "a lead's state and history").add_argument("lead_id")
    command(lead, "exchanges", cmd_lead_exchanges, "a lead's raw TrustedForm exchanges").add_argument("lead_id")

    cert = commands.add_parser("cert", help="one certificate").add_subparsers(dest="cert_command", required=True)
    command(cert, "show", cmd_cert_show, "a certificate's claim and history").add_argument("cert_id")

    evidence = command(commands, "evidence", cmd_evidence, "write a lead's evidence file (JSON)")
    evidence.add_argument(
        "lead_id",
        metavar="LEAD_ID|find|reindex|verify",
        help="a lead's evidence file; find: a consumer's leads, any vendor (--phone/--email, --export DIR); "
        "reindex: put leads stored before the consumer index into it; verify LEAD_ID: check the lead's "
        "evidence chain as stored, naming the first broken link",
    )
    evidence.add_argument("verify_lead_id", nargs="?", metavar="LEAD_ID", help="verify: the lead whose chain to check")
    evidence.add_argument("-o", "--output", help="file to write (default evidence-<lead_id>.json; - for stdout)")
    evidence.add_argument(
        "--unsigned", action="store_true", help="do not sign, even when the target has an evidence key"
    )
    by_consumer = evidence.add_argument_group("evidence find: every lead of one consumer, any vendor")
    contact = by_consumer.add_mutually_exclusive_group()
    contact.add_argument("--phone", help="fingerprinted as intake does; never stored or printed")
    contact.add_argument("--email", help="fingerprinted as intake does; never stored or printed")
    by_consumer.add_argument("--export", metavar="DIR", help="write one bundle per lead and manifest.json here")
    evidence.add_argument(
        "--vendor", help="reindex: only this vendor's leads; a lead's bundle: its vendor, to find it in the archive"
    )
    evidence.add_argument(
        "--received",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the day the lead was received: with --vendor, finds an archived lead whose state item is gone",
    )
    command(
        commands, "verify", cmd_verify, "check an evidence file: its evidence chain, digest and KMS signature"
    ).add_argument("file")

    vendors = commands.add_parser("vendors", help="vendor API keys").add_subparsers(
        dest="vendors_command", required=True
    )
    command(vendors, "add", cmd_vendors_add, "create a vendor key (printed once)").add_argument("name")
    command(vendors, "list", cmd_vendors_list, "vendors and their keys (hints only)")
    command(vendors, "show", cmd_vendors_show, "a vendor's keys, suspension and history").add_argument("name")
    revoke = command(vendors, "revoke", cmd_vendors_revoke, "revoke a vendor's keys")
    revoke.add_argument("name")
    revoke.add_argument("--key-hash", help="only this key (hash or a unique prefix, from `vendors list`)")
    suspend = command(vendors, "suspend", cmd_vendors_suspend, "refuse every key of a vendor until resumed")
    suspend.add_argument("name")
    suspend.add_argument("--reason", required=True, help="why (recorded on the keys with who and when)")
    suspend.add_argument("--actor", help="who suspends (default: your user name)")
    resume = command(vendors, "resume", cmd_vendors_resume, "lift a vendor's suspension")
    resume.add_argument("name")
    resume.add_argument("--actor", help="who resumes (default: your user name)")
    from .scorecards import add_report_command

    add_report_command(vendors, command)
    callback = vendors.add_parser("callback", help="a vendor's callback URL").add_subparsers(
        dest="callback_command", required=True
    )
    callback_set = command(
        callback, "set", cmd_callback_set, "register the URL a vendor's leads that leave pending are POSTed to"
    )
    callback_set.add_argument("name")
    callback_set.add_argument("url", help="https URL on a public host (checked again at every send)")
    command(callback, "show", cmd_callback_show, "a vendor's callback URL (never its secret)").add_argument("name")
    command(callback, "remove", cmd_callback_remove, "stop calling a vendor back").add_argument("name")

    dlq = commands.add_parser("dlq", help="the retry dead-letter queue").add_subparsers(
        dest="dlq_command", required=True
    )
    redrive = command(dlq, "redrive", cmd_dlq_redrive, "move messages from the retry DLQ back to the retry queue")
    redrive.add_argument("--max", type=_positive_int, help="move at most N messages (uses --manual)")
    redrive.add_argument("--manual", action="store_true", help="receive/send/delete instead of a SQS move task")
    redrive.add_argument("--wait", type=float, default=300, help="seconds to follow a move task (default 300)")

    events = commands.add_parser("events", help="outcome events (the example subscriber's queue)").add_subparsers(
        dest="events_command", required=True
    )
    tail = command(
        events, "tail", cmd_events_tail, "print the outcome events waiting on LeadEventsQueue, taking them off it"
    )
    tail.add_argument("--follow", action="store_true", help="keep waiting for new events (Ctrl-C to stop)")
    tail.add_argument("--max", type=_positive_int, help="stop after N events")

    summary = command(commands, "summary", cmd_summary, "leads by status and reason, stuck leads, queue depths")
    summary.add_argument("--hours", type=float, default=24, help="window (default 24)")

    command(commands, "requeue", cmd_requeue, "put a received/pending lead back on the retry queue").add_argument(
        "lead_id"
    )

    from .rules import add_rules_commands

    add_rules_commands(commands, command)

    backfill = command(
        commands, "backfill", cmd_backfill, "retain past leads from a CSV file through the intake path (resumable)"
    )
    backfill.add_argument("file", help="CSV with a header row: certificate URL, email and/or phone, lead_id, lead_date")
    backfill.add_argument("--vendor", required=True, help="the vendor the leads came from (as its key would say)")
    backfill.add_argument("--rate", type=_positive_float, default=5.0, help="at most N leads a second (default 5)")
    backfill.add_argument(
        "--progress-every", type=_positive_int, default=100, help="a progress line every N leads (and every 10 s)"
    )
    from .holds import add_hold_commands

    add_hold_commands(commands, command)
    return parser


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


# --- plumbing ------------------------------------------------------------------------------------


class Context:
    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self._target: Target | None = None

    @property
    def target(self) -> Target:
        if self._target is None:
            self._target = resolve(self.args)
        return self._target

    @property
    def settings(self) -> Settings:
        return self.target.settings()

    @property
    def store(self) -> LeadTable:
        return wiring.build_lead_table(self.settings, self.target.client("dynamodb"))

    @property
    def archive(self) -> Archive:
        """Where an archived lead's evidence is read back from (its state names the object)."""
        from .evidence import Archive

        marks = wiring.build_archive_marks(self.settings, self.target.client("dynamodb"))
        bucket = wiring.build_archive_bucket(self.settings, self.target.client("s3"))
        return Archive(marks=marks, bucket=bucket, searchable=bool(self.target.archive_bucket))

    @property
    def vendor_keys(self) -> VendorKeyStore:
        return wiring.build_vendor_keys(self.settings, self.target.client("dynamodb"))

    @property
    def holds(self) -> HoldStore:
        return wiring.build_hold_store(self.settings, self.target.client("dynamodb"))

    @property
    def callbacks(self) -> VendorCallbackStore:
        return wiring.build_vendor_callbacks(self.settings, self.target.client("dynamodb"))

    @property
    def rule_store(self) -> RuleStore:
        return wiring.build_rule_store(self.settings, self.target.client("dynamodb"))

    def print(self, text: str = "") -> None:
        print(text, file=self.out)

    def note(self, text: str) -> None:
        print(text, file=self.err)

    def emit(self, data: Any, human: Callable[[Any], None]) -> None:
        if self.args.json:
            print(json.dumps(data, indent=2, sort_keys=False, default=str), file=self.out)
        else:
            human(data)


def _now() -> datetime:
    return datetime.now(UTC)


def _fmt(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={_fmt(v)}" for k, v in value.items() if v is not None)
    return str(value)


def _history_lines(ctx: Context, history: list[dict[str, Any]]) -> None:
    for event in history:
        detail = {k: v for k, v in (event.get("detail") or {}).items() if v is not None}
        ctx.print(f"  {event['at']}  {event['type']:<26} {event.get('actor') or '-':<8} {_fmt(detail)}")


# --- commands ------------------------------------------------------------------------------------


def _lead_record(ctx: Context) -> EvidenceRecord:
    from tf_retainer.evidence.record import evidence_record

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
        ctx.print(f"lead {s['lead_id']}  vendor {s.get('vendor')}  vendor lead id {_fmt(s.get('vendor_lead_id'))}")
        rows = [
            ("status", s.get("status")),
            ("reason", s.get("reason")),
            ("certificate", f"{s.get('cert_id')} ({s.get('cert_kind')})  {s.get('certificate_url')}"),
            ("masked", f"{_fmt(s.get('masked'))}  {_fmt(s.get('masked_cert_url'))}"),
            ("received", s.get("received_at")),
            ("deadline", s.get("deadline")),
            ("attempts", f"{s.get('attempts')} (burned {s.get('burned_attempts')})"),
            ("next attempt", s.get("next_attempt_at")),
            ("expires", s.get("expires_at")),
            ("lead match", s.get("lead_match")),
            ("final at", s.get("final_at")),
        ]
        for label, value in rows:
            ctx.print(f"{label:<13} {_fmt(value)}")
        ctx.print("history:")
        _history_lines(ctx, history)
        ctx.print(f"exchanges: {len(record.exchanges)}  (tf-retainer lead exchanges {s['lead_id']})")

    ctx.emit(data, human)
    return 0


def cmd_lead_exchanges(ctx: Context) -> int:
    record = _lead_record(ctx)

    def human(exchanges: list[dict[str, Any]]) -> None:
        if not exchanges:
            ctx.print("no exchanges with TrustedForm (the lead was refused before any retain)")
        for exchange in exchanges:
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

    ctx.emit(record.exchanges, human)
    return 0


def _pretty(body: Any) -> str:
    if isinstance(body, str):
        try:
            return json.dumps(json.loads(body), indent=2).replace("\n", "\n  ")
        except ValueError:
            return body
    return _fmt(body)


def cmd_cert_show(ctx: Context) -> int:
    from tf_retainer.evidence.record import CertificateEvidence

    found = ctx.store.reader.read_certificate(ctx.args.cert_id)
    if found is None:
        raise NotFound(f"no certificate {ctx.args.cert_id}")
    record = CertificateEvidence.of(ctx.args.cert_id, found)
    data = record.model_dump(mode="json")

    def human(_: Any) -> None:
        ctx.print(f"certificate {record.cert_id}")
        claim = record.claim or {}
        if not claim:
            ctx.print("no claim (no lead holds this certificate)")
        for key in ("lead_id", "vendor", "status", "claimed_at", "masked", "masked_cert_url", "expires_at"):
            if key in claim:
                ctx.print(f"{key:<16} {_fmt(claim[key])}")
        ctx.print("history:")
        _history_lines(ctx, data["history"])

    ctx.emit(data, human)
    return 0


def cmd_evidence(ctx: Context) -> int:
    from .evidence import evidence_document, locate, render, sign

    if ctx.args.verify_lead_id and ctx.args.lead_id != "verify":
        raise OpsError(f"unexpected {ctx.args.verify_lead_id!r}: only `evidence verify` takes a second LEAD_ID")
    if ctx.args.lead_id in EVIDENCE_VERBS:
        return EVIDENCE_VERBS[ctx.args.lead_id](ctx)
    if ctx.args.phone or ctx.args.email or ctx.args.export:
        raise OpsError("--phone, --email, --export go with `evidence find`")
    if bool(ctx.args.vendor) != bool(ctx.args.received):
        raise OpsError("--vendor and --received go together (an archived lead whose state item is gone)")
    located = locate(
        ctx.store, ctx.args.lead_id, archive=ctx.archive, vendor=ctx.args.vendor, received=ctx.args.received
    )
    document = evidence_document(located.record, now=_now())
    key_id = ctx.target.evidence_key_id
    if key_id and not ctx.args.unsigned:
        sign(document, ctx.target.client("kms"), key_id)
    else:
        ctx.note("note: unsigned (no evidence key): the digest shows damage, not editing - see docs/operations.md")
    text = render(document)
    output = ctx.args.output or f"evidence-{ctx.args.lead_id}.json"
    if output == "-":
        ctx.out.write(text)
        return 0
    path = Path(output)
    path.write_text(text, encoding="utf-8")
    summary = {
        "file": str(path),
        "lead_id": document["lead_id"],
        "status": document["retain"].get("status"),
        "exchanges": len(document["exchanges"]),
        "history_events": len(document["history"]),
        "content_sha256": document["content_sha256"],
        "signed": "signature" in document,
        "source": located.source,
    }
    ctx.emit(
        summary,
        lambda s: ctx.print(
            f"wrote {s['file']}: lead {s['lead_id']} ({s['status']}), {s['exchanges']} exchange(s), "
            f"{s['history_events']} event(s), sha256 {s['content_sha256']}"
            + ("" if s["source"] == "dynamodb" else f" (from the archive: {s['source']})")
        ),
    )
    return 0


def cmd_evidence_find(ctx: Context) -> int:
    from .consumer import export, find_leads, fingerprint_query, other_spellings
    from .evidence import sign

    query = fingerprint_query(email=ctx.args.email, phone=ctx.args.phone)
    also = other_spellings(ctx.args.phone)
    matches = find_leads(ctx.store, query, also)
    data: dict[str, Any] = {"query": query, "other_spellings": also, "leads": [match.brief() for match in matches]}
    if ctx.args.export:
        key_id = ctx.target.evidence_key_id
        signer = None
        if key_id and not ctx.args.unsigned:
            kms = ctx.target.client("kms")
            signer = lambda document: sign(document, kms, key_id)  # noqa: E731
        else:
            ctx.note("note: unsigned (no evidence key): the digests show damage, not editing - see docs/operations.md")
        manifest = export(
            ctx.store, query, matches, Path(ctx.args.export), signer=signer, now=_now(), archive=ctx.archive, also=also
        )
        data["export"] = {"directory": ctx.args.export, "manifest": manifest}

    def human(d: dict[str, Any]) -> None:
        for kind, fingerprint in d["query"].items():
            others = len(d["other_spellings"].get(kind, []))
            spelt = f" (and {others} other spelling(s) of the number)" if others else ""
            ctx.print(f"{kind} sha1 {fingerprint}{spelt}: {len(d['leads'])} lead(s)")
        for lead in d["leads"]:
            ctx.print(
                f"  {lead['received_at']}  {lead['lead_id']}  {lead['vendor']}  {_fmt(lead['vendor_lead_id'])}  "
                f"{lead['status']}  {_fmt(lead['reason'])}  final {_fmt(lead['final_at'])}  cert {lead['cert_id']}"
            )
        if "export" in d:
            listed = d["export"]["manifest"]["leads"]
            ctx.print(f"exported {len(listed)} bundle(s) and manifest.json to {d['export']['directory']}")

    if not matches:
        ctx.note("no lead carries this fingerprint (leads stored before the consumer index: `evidence reindex`)")
    ctx.emit(data, human)
    return 0


def cmd_evidence_reindex(ctx: Context) -> int:
    vendors = [ctx.args.vendor] if ctx.args.vendor else sorted({key.vendor for key in ctx.vendor_keys.list()})
    counts = {vendor: ctx.store.index.index_contacts(vendor) for vendor in vendors}
    data = {vendor: {"indexed": indexed, "already": already} for vendor, (indexed, already) in counts.items()}

    def human(d: dict[str, Any]) -> None:
        for vendor, count in d.items():
            ctx.print(f"{vendor}: {count['indexed']} lead(s) put in the consumer index, {count['already']} already in")

    ctx.emit(data, human)
    return 0


def cmd_evidence_verify(ctx: Context) -> int:
    """The lead's chain as stored, recomputed link by link (exit 1 names the broken link). An archived
    lead's older entries are read from its archived record (their table copies expire early)."""
    from tf_retainer.domain import chain

    from .evidence import locate, verified_chain

    lead_id = ctx.args.verify_lead_id
    if not lead_id:
        raise OpsError("evidence verify needs a LEAD_ID")
    located = locate(ctx.store, lead_id, archive=ctx.archive)
    try:
        entries = verified_chain(located.record.model_dump(mode="json"))
    except (chain.BrokenChain, ValueError) as exc:
        seq = exc.seq if isinstance(exc, chain.BrokenChain) else None
        why = exc.why if isinstance(exc, chain.BrokenChain) else str(exc)
        data = {"lead_id": lead_id, "ok": False, "broken_entry": seq, "why": why, "source": located.source}
        ctx.emit(data, lambda d: ctx.print(f"lead {lead_id}: BROKEN at entry {d['broken_entry']}: {d['why']}"))
        return 1
    head = entries[-1].hash if entries else None
    data = {"lead_id": lead_id, "ok": True, "entries": len(entries), "head": head, "source": located.source}
    ctx.emit(
        data,
        lambda d: ctx.print(
            f"lead {lead_id}: {d['entries']} entr{'y' if d['entries'] == 1 else 'ies'}, every link verifies "
            f"(head {d['head']})"
        ),
    )
    return 0


EVIDENCE_VERBS: dict[str, Callable[[Context], int]] = {
    "find": cmd_evidence_find,
    "reindex": cmd_evidence_reindex,
    "verify": cmd_evidence_verify,
}


def cmd_verify(ctx: Context) -> int:
    from .evidence import verify

    try:
        document = json.loads(Path(ctx.args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OpsError(f"cannot read {ctx.args.file}: {exc}") from exc
    if not isinstance(document, dict):
        raise OpsError(f"{ctx.args.file} is not an evidence file")
    try:
        kms = ctx.target.client("kms")
    except OpsError:
        kms = None  # no target: the digest can still be checked
    result = verify(document, kms)
    data = {"file": ctx.args.file, "digest_ok": result.digest_ok, "signed": result.signed}
    data.update({"signature_ok": result.signature_ok, "chain_ok": result.chain_ok, "verdict": result.describe()})
    ctx.emit(data, lambda d: ctx.print(f"{d['file']}: {d['verdict']}"))
    return 0 if result.ok and result.signature_ok is not None else (1 if not result.ok else 3)


def cmd_vendors_add(ctx: Context) -> int:
    from .vendors import add_vendor

    added = add_vendor(ctx.target, ctx.vendor_keys, ctx.args.name, now=_now())
    for note in added.notes:
        ctx.note(f"note: {note}")
    data = {
        "vendor": added.vendor,
        "api_key": added.api_key,
        "key_hash": added.key_hash,
        "key_hint": added.key_hint,
        "api_gateway_key_id": added.gateway_key_id,
    }

    def human(_: Any) -> None:
        ctx.print(f"vendor {added.vendor}: new API key (shown once, store it now; send it as x-api-key):")
        ctx.print(f"  {added.api_key}")
        ctx.print(f"key hash {added.key_hash[:12]}  hint ...{added.key_hint}")
        if added.gateway_key_id:
            ctx.print(f"API Gateway key {added.gateway_key_id} attached to usage plan {ctx.target.usage_plan_id}")

    ctx.emit(data, human)
    return 0


def cmd_callback_set(ctx: Context) -> int:
    """A new signing secret each time (shown once): setting the URL again rotates it."""
    import secrets

    from tf_retainer.events.callbacks import CallbackRefused, check_url

    try:
        url = check_url(ctx.args.url, allow_private=ctx.target.source == "local")
    except CallbackRefused as refused:
        raise OpsError(f"{ctx.args.url}: {refused} ({refused.reason})") from None
    secret = secrets.token_urlsafe(32)
    target = ctx.callbacks.put(ctx.args.name, url, secret, now=_now())

    def human(_: Any) -> None:
        ctx.print(f"vendor {target.vendor}: callbacks to {target.url}")
        ctx.print("signing secret (shown once; the vendor verifies X-TF-Retainer-Signature with it):")
        ctx.print(f"  {secret}")

    ctx.emit({"vendor": target.vendor, "url": target.url, "secret": secret}, human)
    return 0


def cmd_callback_show(ctx: Context) -> int:
    target = ctx.callbacks.get(ctx.args.name)
    if target is None:
        raise OpsError(f"vendor {ctx.args.name} has no callback URL", code=1)
    data = {"vendor": target.vendor, "url": target.url, "active": target.active, "changed_at": target.changed_at}
    ctx.emit(data, lambda _: ctx.print(f"{target.vendor}: {target.url} ({'active' if target.active else 'removed'})"))
    return 0


def cmd_callback_remove(ctx: Context) -> int:
    store = ctx.callbacks
    target = store.get(ctx.args.name)
    if target is None or not target.active:
        raise OpsError(f"vendor {ctx.args.name} has no active callback URL", code=1)
    store.put(target.vendor, target.url, target.secret, now=_now(), active=False)
    ctx.emit({"vendor": target.vendor, "active": False}, lambda _: ctx.print(f"{target.vendor}: callbacks stopped"))
    return 0


def cmd_vendors_list(ctx: Context) -> int:
    from .vendors import list_vendors

    rows = list_vendors(ctx.vendor_keys)

    def human(rows: list[dict[str, Any]]) -> None:
        if not rows:
            ctx.print("no vendor keys")
            return
        ctx.print(f"{'vendor':<24} {'active':<7} {'created':<28} {'hint':<8} key hash")
        for row in rows:
            ctx.print(
                f"{row['vendor']:<24} {_key_state(row):<7} {_fmt(row['created_at']):<28} "
                f"...{row['key_hint'] or '':<5} {row['key_hash'][:12]}"
            )

    ctx.emit(rows, human)
    return 0


def cmd_vendors_show(ctx: Context) -> int:
    from .vendors import show_vendor

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
    from .rules import _actor
    from .vendors import set_vendor_suspended

    reason = ctx.args.reason if suspended else None
    actor = ctx.args.actor or _actor()
    standing = set_vendor_suspended(
        ctx.vendor_keys, ctx.args.name, suspended=suspended, reason=reason, actor=actor, now=_now()
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
    from .vendors import revoke_vendor

    revoked = revoke_vendor(ctx.target, ctx.vendor_keys, ctx.args.name, key_hash_prefix=ctx.args.key_hash, now=_now())
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


def cmd_dlq_redrive(ctx: Context) -> int:
    from .queues import redrive

    progress = ctx.note if ctx.args.json else ctx.print
    result = redrive(
        ctx.target, max_messages=ctx.args.max, manual=ctx.args.manual, wait_seconds=ctx.args.wait, progress=progress
    )
    data = {
        "moved": result.moved,
        "failed": result.failed,
        "method": result.method,
        "task_handle": result.task_handle,
        "status": result.status,
        "notes": result.notes,
    }

    def human(_: Any) -> None:
        ctx.print(f"moved {result.moved} message(s) from the DLQ to the retry queue ({result.method})")
        for note in result.notes:
            ctx.print(f"note: {note}")

    ctx.emit(data, human)
    return 0 if not result.failed else 1


def cmd_events_tail(ctx: Context) -> int:
    """One event per line (JSON), oldest first as the queue gives them; deleted once printed."""
    sqs, url = ctx.target.client("sqs"), ctx.target.need_events_queue()
    printed = 0
    while ctx.args.max is None or printed < ctx.args.max:
        wanted = 10 if ctx.args.max is None else min(10, ctx.args.max - printed)
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=wanted, WaitTimeSeconds=5 if ctx.args.follow else 1
        ).get("Messages", [])
        if not messages and not ctx.args.follow:
            break
        for message in messages:
            ctx.print(json.dumps(json.loads(message["Body"]), sort_keys=True))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            printed += 1
    ctx.note(f"{printed} event(s)")
    return 0


def cmd_summary(ctx: Context) -> int:
    from .summary import summarize

    data = summarize(ctx.target, ctx.store, ctx.vendor_keys, hours=ctx.args.hours, now=_now())

    def human(s: dict[str, Any]) -> None:
        ctx.print(f"last {s['window_hours']:g} h (since {s['since']}): {s['leads']} lead(s)")
        ctx.print("by status:  " + (_fmt(s["by_status"]) if s["by_status"] else "-"))
        ctx.print("rejected:   " + (_fmt(s["rejections_by_reason"]) if s["rejections_by_reason"] else "-"))
        ctx.print("expired:    " + (_fmt(s["expiries_by_reason"]) if s["expiries_by_reason"] else "-"))
        ctx.print("pending:    " + (_fmt(s["pending_by_reason"]) if s["pending_by_reason"] else "-"))
        ctx.print("by vendor:  " + (_fmt(s["by_vendor"]) if s["by_vendor"] else "-"))
        ctx.print(f"stuck pending (overdue: past check_after): {len(s['stuck_pending'])}")
        for lead in s["stuck_pending"]:
            ctx.print(f"  {lead['lead_id']}  {lead['vendor']}  next {lead['next_attempt_at']}  {lead['reason']}")
        ctx.print(f"stuck received (overdue: past check_after): {len(s['stuck_received'])}")
        for lead in s["stuck_received"]:
            ctx.print(f"  {lead['lead_id']}  {lead['vendor']}  received {lead['received_at']}")
        if s["stuck_pending"] or s["stuck_received"]:
            ctx.print("  -> the sweeper requeues these on its next run (or now: tf-retainer requeue LEAD_ID)")
        ctx.print(f"retry queue: {_fmt(s['retry_queue'])}")
        ctx.print(f"dead-letter queue: {_fmt(s['dead_letter_queue'])}")

    ctx.emit(data, human)
    return 0


def cmd_requeue(ctx: Context) -> int:
    from .queues import requeue

    result = requeue(ctx.target, ctx.store, ctx.args.lead_id, now=_now())
    for warning in result.warnings:
        ctx.note(f"warning: {warning}")
    data = {"lead_id": result.lead_id, "attempt": result.attempt, "message_id": result.message_id}
    ctx.emit(data, lambda d: ctx.print(f"requeued lead {d['lead_id']} for attempt {d['attempt']} ({d['message_id']})"))
    return 0


# --- entry point ---------------------------------------------------------------------------------


def cmd_backfill(ctx: Context) -> int:
    from . import backfill

    path = Path(ctx.args.file)
    settings = backfill.service_settings(ctx.target)
    plan = backfill.read_plan(path, now=_now(), settings=settings)
    backfill.check_vendor(ctx.vendor_keys, ctx.args.vendor)
    ctx.note(
        f"backfill {path.name} for {ctx.args.vendor}: {plan.rows} row(s): {len(plan.invalid)} invalid, "
        f"{len(plan.closed)} window closed (not sent), {len(plan.urgent)} inside 72 h (first), "
        f"{len(plan.later)} inside 90 days"
    )
    deps = backfill.service_deps(ctx.target, settings)
    summary = backfill.Summary.of(plan, ctx.args.vendor)
    try:
        backfill.run_backfill(
            deps,
            plan,
            summary,
            source=path.name,
            err=ctx.err,
            pace=backfill.Pace(ctx.args.rate),
            progress_every=ctx.args.progress_every,
        )
    finally:  # interrupted or not: what was done, and what a rerun will do
        deps.trustedform.close()
        _emit_backfill(ctx, summary)
    return 1 if summary.stopped else 0


def _emit_backfill(ctx: Context, summary: backfill.Summary) -> None:
    def human(_: Any) -> None:
        for line in summary.lines():
            ctx.print(line)

    ctx.emit(summary.to_dict(), human)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    ctx = Context(args, out, err)
    try:
        return args.handler(ctx)
    except OpsError as exc:
        return _fail(err, str(exc), exc.code)
    except NotFound as exc:
        return _fail(err, str(exc), 1)
    except (NoCredentialsError, PartialCredentialsError, TokenRetrievalError) as exc:
        return _fail(err, f"no usable AWS credentials ({exc}): set AWS_PROFILE or run aws sso login", 2)
    except NoRegionError:
        return _fail(err, "no AWS region: pass --region or set AWS_REGION", 2)
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        return _fail(err, f"cannot reach AWS: {exc}", 2)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", "")
        if code in TARGET_ERRORS:
            return _fail(err, f"{TARGET_ERRORS[code]}: {message or code} ({exc.operation_name})", 2)
        return _fail(err, f"AWS error {code} in {exc.operation_name}: {message}", 1)
    except KeyboardInterrupt:
        return _fail(err, "interrupted", 130)


def _fail(err: TextIO, message: str, code: int) -> int:
    print(f"tf-retainer: {message}", file=err)
    return code


if __name__ == "__main__":
    sys.exit(main())
