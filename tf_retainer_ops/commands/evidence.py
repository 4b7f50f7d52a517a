"""`evidence LEAD_ID` (a lead's evidence file), `evidence find|reindex|verify`, and `verify FILE`.

`evidence`'s first argument is a lead id or one of the verbs find, reindex, verify (EVIDENCE_VERBS)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from tf_retainer.domain import chain
from tf_retainer.domain.anchors import ChainLink
from tf_retainer.evidence.anchoring import check_chain

from ..bundle import Signer, evidence_document, render, sign, verified_chain
from ..bundle_check import EvidenceKey, Refused, load, state_problem, stored_state_problem, verify
from ..consumer import export, find_leads, fingerprint_query, other_spellings
from ..context import Command, Context, argument, fmt, now
from ..evidence import locate
from ..target import OpsError, make_client


def _signer(ctx: Context, unsigned_note: str) -> Signer | None:
    """What signs a bundle with the target's evidence key, unless it has none or --unsigned."""
    key_id = ctx.target.evidence_key_id
    if key_id and not ctx.args.unsigned:
        kms = ctx.target.client("kms")
        return lambda document: sign(document, kms, key_id)
    ctx.note(f"note: unsigned (no evidence key): {unsigned_note} - see docs/operations.md")
    return None


def cmd_evidence(ctx: Context) -> int:
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
    document = evidence_document(located.record, now=now())
    if signer := _signer(ctx, "the digest shows damage, not editing"):
        signer(document)
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
    query = fingerprint_query(email=ctx.args.email, phone=ctx.args.phone)
    also = other_spellings(ctx.args.phone)
    matches = find_leads(ctx.store, query, also)
    data: dict[str, Any] = {"query": query, "other_spellings": also, "leads": [match.brief() for match in matches]}
    if ctx.args.export:
        signer = _signer(ctx, "the digests show damage, not editing")
        manifest = export(
            ctx.store, query, matches, Path(ctx.args.export), signer=signer, now=now(), archive=ctx.archive, also=also
        )
        data["export"] = {"directory": ctx.args.export, "manifest": manifest}

    def human(d: dict[str, Any]) -> None:
        for kind, fingerprint in d["query"].items():
            others = len(d["other_spellings"].get(kind, []))
            spelt = f" (and {others} other spelling(s) of the number)" if others else ""
            ctx.print(f"{kind} sha1 {fingerprint}{spelt}: {len(d['leads'])} lead(s)")
        for lead in d["leads"]:
            ctx.print(
                f"  {lead['received_at']}  {lead['lead_id']}  {lead['vendor']}  {fmt(lead['vendor_lead_id'])}  "
                f"{lead['status']}  {fmt(lead['reason'])}  final {fmt(lead['final_at'])}  cert {fmt(lead['cert_id'])}"
            )
        if "export" in d:
            listed = d["export"]["manifest"]["leads"]
            ctx.print(f"exported {len(listed)} bundle(s) and manifest.json to {d['export']['directory']}")

    if not matches:
        ctx.note("no lead carries this fingerprint (leads stored before the consumer index: `evidence reindex`)")
    ctx.emit(data, human)
    return 0


def cmd_evidence_reindex(ctx: Context) -> int:
    vendors = [ctx.args.vendor] if ctx.args.vendor else ctx.vendors()
    counts = {vendor: ctx.store.index.index_contacts(vendor) for vendor in vendors}
    data = {vendor: {"indexed": indexed, "already": already} for vendor, (indexed, already) in counts.items()}

    def human(d: dict[str, Any]) -> None:
        for vendor, count in d.items():
            ctx.print(f"{vendor}: {count['indexed']} lead(s) put in the consumer index, {count['already']} already in")

    ctx.emit(data, human)
    return 0


def cmd_evidence_verify(ctx: Context) -> int:
    """The lead's chain as stored, recomputed link by link (exit 1 names the broken link), each entry against
    the hash anchored outside the table when it was written (exit 1 names an entry rewritten, overwritten or
    deleted; one not anchored yet is said, not failed), and its state against the chain (exit 1 names what
    differs). An archived lead's older entries are read from its archived record (their table copies expire
    early)."""
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
    anchored = _against_anchors(ctx, lead_id, entries)
    if anchored.get("problems"):
        seq, why = anchored["problems"][0]["entry"], anchored["problems"][0]["why"]
        data = {"lead_id": lead_id, "ok": False, "broken_entry": seq, "why": why, "source": located.source}
        ctx.emit(data | {"anchors": anchored}, lambda d: _anchor_problems(ctx, lead_id, d["anchors"]["problems"]))
        return 1
    if problem := _state_against_chain(ctx, lead_id, located.record.state, entries, located.source):
        data = {"lead_id": lead_id, "ok": False, "broken_entry": None, "why": problem, "source": located.source}
        ctx.emit(data, lambda d: ctx.print(f"lead {lead_id}: STATE DISAGREES with its chain: {d['why']}"))
        return 1
    head = entries[-1].hash if entries else None
    data = {"lead_id": lead_id, "ok": True, "entries": len(entries), "head": head, "source": located.source}
    ctx.emit(
        data | {"anchors": anchored},
        lambda d: ctx.print(
            f"lead {lead_id}: {d['entries']} entr{'y' if d['entries'] == 1 else 'ies'}, every link verifies "
            f"(head {d['head']}); {_anchors_line(d['anchors'])}"
        ),
    )
    return 0


def _against_anchors(ctx: Context, lead_id: str, entries: list[chain.Entry]) -> dict[str, Any]:
    """The chain against the anchors of the hours its entries name (evidence/anchoring.py)."""
    anchors = ctx.anchors
    if isinstance(anchors, str):
        ctx.note(f"note: anchors not checked: {anchors}")
        return {"checked": False, "why": anchors}
    store, mac = anchors
    links = [ChainLink(seq=entry.seq, hash=entry.hash, at=entry.at) for entry in entries]
    verdict = check_chain(lead_id, links, store, mac, now=now())
    if verdict.since is None and verdict.check.ok:
        return {"checked": False, "why": "nothing has been anchored yet (AnchorFunction)"}
    return {"checked": True, **verdict.summary()}


def _anchors_line(anchored: dict[str, Any]) -> str:
    if not anchored.get("checked"):
        return f"anchors not checked: {anchored['why']}"
    parts = [f"{len(anchored['anchored'])} entr{'y' if len(anchored['anchored']) == 1 else 'ies'} anchored"]
    if anchored["not_anchored_yet"]:
        parts.append(f"not anchored yet (recent): {', '.join(map(str, anchored['not_anchored_yet']))}")
    if anchored["before_anchoring"]:
        parts.append(f"written before anchoring began: {', '.join(map(str, anchored['before_anchoring']))}")
    return "; ".join(parts)


def _anchor_problems(ctx: Context, lead_id: str, problems: list[dict[str, Any]]) -> None:
    for problem in problems:
        ctx.print(f"lead {lead_id}: ANCHORS DISAGREE: {problem['why']}")


def _state_against_chain(
    ctx: Context, lead_id: str, state: dict[str, Any], entries: list[chain.Entry], source: str
) -> str | None:
    """The table's state item (with the entry it reflects and that entry's hash) against the chain; an
    archived record's state against its chain's last step."""
    if source != "dynamodb":
        return state_problem(state, entries)
    lead = ctx.store.reader.get_lead(lead_id)
    return stored_state_problem(lead, entries) if lead is not None else "the lead's state item is gone"


EVIDENCE_VERBS: dict[str, Callable[[Context], int]] = {
    "find": cmd_evidence_find,
    "reindex": cmd_evidence_reindex,
    "verify": cmd_evidence_verify,
}


def cmd_verify(ctx: Context) -> int:
    """Exit 0 valid (proven under the deployment's evidence key), 1 edited, forged or refused, 3 not proven
    (unsigned, or no deployment key to check the signature with)."""
    try:
        text = Path(ctx.args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OpsError(f"cannot read {ctx.args.file}: {exc}") from exc
    data: dict[str, Any] = {"file": ctx.args.file}
    try:
        document = load(text)
    except Refused as exc:
        data.update(ok=False, verdict=f"REFUSED: {exc}")
        ctx.emit(data, lambda d: ctx.print(f"{d['file']}: {d['verdict']}"))
        return 1
    key, no_key_why = deployment_key(ctx)
    result = verify(document, key, no_key_why=no_key_why, beside=Path(ctx.args.file).parent)
    data.update(ok=result.ok, chain_ok=result.chain_problem is None, digest_ok=result.digest_ok, signed=result.signed)
    data.update(signature_ok=result.signature_ok, evidence_key_id=result.key_id, verdict=result.describe())
    ctx.emit(data, lambda d: ctx.print(f"{d['file']}: {d['verdict']}"))
    return 0 if result.proven else (1 if not result.ok else 3)


def deployment_key(ctx: Context) -> tuple[EvidenceKey | None, str]:
    """The deployment's evidence key (--evidence-key-id, else the target's: the stack's EvidenceKeyId output
    or the local stack's state file) and its KMS client; None and why when there is none."""
    given = getattr(ctx.args, "evidence_key_id", None)
    try:
        target = ctx.target
    except OpsError as exc:
        if not given:
            return None, f"no deployment to check it against ({exc}; or give --evidence-key-id)"
        kms = make_client("kms", region=ctx.args.region, endpoint_url=ctx.args.endpoint_url)
        return EvidenceKey(kms, given), ""
    key_id = given or target.evidence_key_id
    if not key_id:
        return None, "the target names no evidence key (give --evidence-key-id, or use --stack / --local)"
    return EvidenceKey(target.client("kms"), key_id), ""


def evidence_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "lead_id",
        metavar="LEAD_ID|find|reindex|verify",
        help="a lead's evidence file; find: a consumer's leads, any vendor (--phone/--email, --export DIR); "
        "reindex: put leads stored before the consumer index into it; verify LEAD_ID: check the lead's "
        "evidence chain as stored, naming the first broken link, and each entry against its anchor (the hash "
        "recorded outside the table when it was written)",
    )
    parser.add_argument("verify_lead_id", nargs="?", metavar="LEAD_ID", help="verify: the lead whose chain to check")
    parser.add_argument("-o", "--output", help="file to write (default evidence-<lead_id>.json; - for stdout)")
    parser.add_argument("--unsigned", action="store_true", help="do not sign, even when the target has an evidence key")
    by_consumer = parser.add_argument_group("evidence find: every lead of one consumer, any vendor")
    contact = by_consumer.add_mutually_exclusive_group()
    contact.add_argument("--phone", help="fingerprinted as intake does; never stored or printed")
    contact.add_argument("--email", help="fingerprinted as intake does; never stored or printed")
    by_consumer.add_argument("--export", metavar="DIR", help="write one bundle per lead and manifest.json here")
    parser.add_argument(
        "--vendor", help="reindex: only this vendor's leads; a lead's bundle: its vendor, to find it in the archive"
    )
    parser.add_argument(
        "--received",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the day the lead was received: with --vendor, finds an archived lead whose state item is gone",
    )


COMMANDS = (
    Command(("evidence",), cmd_evidence, "write a lead's evidence file (JSON)", evidence_arguments),
    Command(
        ("verify",),
        cmd_verify,
        "check an evidence file: its evidence chain, digest and signature (under the deployment's evidence key)",
        argument("file"),
    ),
)
