"""`tf-retainer verify FILE`: an evidence file checked as its reader would need it checked, against nothing
the file itself names.

A file is refused whole when it is not strict JSON (a key given twice anywhere, the chain's entries
included: a reader could see either value) or holds no evidence chain (nothing in it is proven). Then:

* the chain: every link recomputed from the lead's identity on (bundle.verified_chain); the history and
  the raw exchanges exactly what it holds; the file's state exactly the lead as the chain's last step
  left it (store.items' snapshot: what a state-changing entry records); the readable sections (retain,
  certificate, lead, ...) exactly views of that state;
* the content digest, over everything but the digest and the signature;
* the signature, with KMS VerifyMac under the deployment's evidence key (EvidenceKey: the stack's output,
  the local stack's state file or --evidence-key-id), never the key the file names: anyone can make a
  key, sign an edited file with it and name it there.

Self-consistent edits (a chain rewritten with its hashes, the digest recomputed) leave only the
signature to tell: without the deployment's key a file is "not proven" (exit 3), never valid.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError
from tf_retainer.domain import chain
from tf_retainer.domain.lead import Lead
from tf_retainer.store.items import STATE_ONLY, history_item

from .bundle import (
    EVIDENCE_FORMAT,
    EXPORT_FORMAT,
    MAC_ALGORITHM,
    RETAIN_FIELDS,
    content_digest,
    state_sections,
    verified_chain,
)

# Fields of the state that move without an entry of the chain: the time to be checked again (a retry
# message that could not be sent), and the state's own bookkeeping (which entry it reflects, an attempt's lease).
UNCHAINED_STATE = frozenset({*STATE_ONLY, "check_after"})
# State fields shown with their values when they differ from the chain's (none is a contact detail).
SHOWN_VALUES = frozenset({*RETAIN_FIELDS, "lead_id", "vendor", "cert_id"})
# KMS errors that mean the key could not be used here, not that the signature is bad.
KEY_UNUSABLE = ("AccessDeniedException", "NotFoundException", "DisabledException", "KMSInvalidStateException")


class Refused(ValueError):
    """The file is not an evidence file one can check (not strict JSON, not a bundle)."""


@dataclass(frozen=True)
class EvidenceKey:
    """The deployment's evidence key, and the KMS client to use it with."""

    kms: Any
    key_id: str


def load(text: str) -> dict[str, Any]:
    """The file's document, parsed strictly: a key twice in one object, NaN or Infinity refused."""
    try:
        document = strict_json(text)
    except RecursionError as exc:
        raise Refused("not JSON (nested too deep)") from exc
    except ValueError as exc:
        raise Refused(str(exc) if isinstance(exc, Refused) else f"not JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") not in (EVIDENCE_FORMAT, EXPORT_FORMAT):
        raise Refused(f"not an evidence file (format {EVIDENCE_FORMAT} or {EXPORT_FORMAT} expected)")
    return document


def strict_json(text: str | bytes) -> Any:
    def no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise Refused(
                    f"the JSON key {key[:40]!r} is given twice in one object: a reader could see either value"
                )
            seen[key] = value
        return seen

    def no_constant(name: str) -> Any:
        raise Refused(f"{name} is not a JSON number")

    return json.loads(text, object_pairs_hook=no_repeats, parse_constant=no_constant)


@dataclass
class Verification:
    chain_problem: str | None  # None: the chain holds, and the file shows exactly what it holds
    digest_ok: bool
    signed: bool
    signature_ok: bool | None  # None: unsigned, or not checked (why: unchecked)
    key_id: str | None = None  # the deployment's evidence key it was checked with
    named_key: str | None = None  # the key the file names (never used)
    unchecked: str | None = None
    held: str = "the chain holds"  # what was checked besides the digest and the signature

    @property
    def ok(self) -> bool:
        return self.chain_problem is None and self.digest_ok and self.signature_ok is not False

    @property
    def proven(self) -> bool:
        return self.ok and self.signature_ok is True

    def describe(self) -> str:
        held = f"{self.held} and the content matches content_sha256"
        if self.chain_problem is not None:
            return self.chain_problem
        if not self.digest_ok:
            return "EDITED: the content does not match content_sha256"
        if not self.signed:
            return f"{held}, but the file is unsigned: an editor could have recomputed both"
        if self.signature_ok is None:
            return f"{held}; the signature was not checked: {self.unchecked}"
        key = f"the deployment's evidence key {self.key_id}"
        if not self.signature_ok:
            named = "" if _same_key(self.named_key, self.key_id) else f" (the file names another key, {self.named_key})"
            return f"FORGED: the signature does not verify under {key}{named}"
        return f"valid: {held}, and the signature verifies under {key}"


def verify(
    document: dict[str, Any],
    key: EvidenceKey | None,
    *,
    no_key_why: str = "no evidence key",
    beside: Path | None = None,
) -> Verification:
    """The file's verdict. ``beside``: the folder of an export's manifest, whose listed files are checked."""
    digest_ok = document.get("content_sha256") == content_digest(document)
    signature = document.get("signature")
    problem = manifest_problem(document, beside) if document["format"] == EXPORT_FORMAT else chain_problem(document)
    result = Verification(problem, digest_ok, signed=isinstance(signature, dict), signature_ok=None)
    if document["format"] == EXPORT_FORMAT:
        result.held = "every file listed is beside it" if beside is not None else "the manifest reads"
    if not isinstance(signature, dict):
        return result
    result.named_key = str(signature.get("key_id"))
    if key is None:
        result.unchecked = no_key_why
        return result
    result.key_id = key.key_id
    if not digest_ok:
        result.unchecked = "the content does not match the digest it signs"
        return result
    result.signature_ok, result.unchecked = _mac_valid(document, signature, key)
    return result


def chain_problem(document: dict[str, Any]) -> str | None:
    """What is wrong with the file's evidence chain and what the file shows of it, or None."""
    links = document.get("chain")
    if not isinstance(links, list) or not links:
        return "REFUSED: the file holds no evidence chain (nothing in it is proven)"
    for link in links:
        try:
            strict_json(str(link["content"]) if isinstance(link, dict) else "")
        except (KeyError, ValueError) as exc:
            seq = link.get("seq") if isinstance(link, dict) else "?"
            return f"REFUSED: entry {seq} of the evidence chain is not strict JSON ({exc})"
    for position, link in enumerate(links, start=1):
        if not isinstance(link, dict) or link.get("seq") != position:
            seq = link.get("seq") if isinstance(link, dict) else None
            return f"EDITED: the evidence chain is out of order (entry {seq} at place {position}), or has a gap"
    try:
        entries = verified_chain(document)
    except ValueError as exc:
        return f"EDITED: {exc}"
    except chain.BrokenChain as broken:
        return f"EDITED: the evidence chain breaks at entry {broken.seq}: {broken.why}"
    problem = _shown_problem(document, entries) or _state_problem(document, entries)
    return f"EDITED: {problem}" if problem else None


def manifest_problem(manifest: dict[str, Any], beside: Path | None) -> str | None:
    """An export's manifest (evidence find --export): each file it lists is beside it, byte for byte."""
    listed = manifest.get("leads")
    if not isinstance(listed, list) or not all(isinstance(entry, dict) for entry in listed):
        return "REFUSED: the manifest lists no files"
    if beside is None:
        return None
    for entry in listed:
        name = str(entry.get("file"))
        path = beside / name
        if Path(name).name != name or not path.is_file():
            return f"EDITED: {name}, listed in the manifest, is not beside it"
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry.get("file_sha256"):
            return f"EDITED: {name} is not the file the manifest lists (its SHA-256 differs)"
    return None


def _shown_problem(document: dict[str, Any], entries: list[chain.Entry]) -> str | None:
    """The file's history and raw exchanges against what the chain holds."""
    compared = ("at", "type", "actor", "detail")
    held = [
        {name: shown[name] for name in compared}
        for entry in entries
        for shown in (history_item(event, entry, str(document["lead_id"]), None).as_dict() for event in entry.events)
    ]
    history = document.get("history")
    if not isinstance(history, list) or not all(isinstance(event, dict) for event in history):
        return "the history is not a list of events"
    shown = [
        {name: event.get(name) for name in ("at", "type", "actor")} | {"detail": event.get("detail") or {}}
        for event in history
    ]
    if shown != held:
        at = next((i for i, (a, b) in enumerate(zip(shown, held, strict=False)) if a != b), min(len(shown), len(held)))
        return f"history event {at + 1} is not what the evidence chain holds"
    if (document.get("exchanges") or []) != [exchange for entry in entries for exchange in entry.exchanges]:
        return "the raw exchanges are not what the evidence chain holds"
    return None


def _state_problem(document: dict[str, Any], entries: list[chain.Entry]) -> str | None:
    """The file's state against the lead as the chain's last step left it, and its readable sections
    against that state."""
    state = document.get("state")
    if not isinstance(state, dict):
        return "the file holds no state"
    if problem := state_problem(state, entries):
        return problem
    if document.get("lead_id") != state.get("lead_id"):
        return "the file's lead_id is not its state's"
    exchanges = [exchange for entry in entries for exchange in entry.exchanges]
    for section, expected in state_sections(state, exchanges).items():
        if document.get(section) != expected:
            return f"the {section} shown is not what the state holds"
    return None


def state_problem(state: dict[str, Any], entries: list[chain.Entry]) -> str | None:
    """A lead's state against the lead as the last step of ``entries`` left it (what a state-changing
    entry records), or what differs."""
    steps = [entry for entry in entries if entry.state is not None]
    if not steps:
        if state.get("status") != "received" or state.get("applied", 0):
            return f"the state says {_shown('status', state.get('status'))}, but no entry of the chain records a step"
        return None
    last = steps[-1]
    try:
        held, claimed = _comparable(last.state or {}), _comparable(state)
    except ValidationError as exc:
        return f"the state is not a lead's state ({exc.errors()[0]['loc']})"
    for name in sorted(set(held) | set(claimed)):
        if held.get(name) != claimed.get(name):
            values = f": chain {_shown(name, held.get(name))}, file {_shown(name, claimed.get(name))}"
            return f"the state's {name} is not the lead's as entry {last.seq} of the chain left it" + (
                values if name in SHOWN_VALUES else ""
            )
    return None


def stored_state_problem(lead: Lead, entries: list[chain.Entry]) -> str | None:
    """A stored lead's state against its chain: the entry it says it reflects (``applied``) is in the chain
    with the hash the state keeps (``head``), records a step, and left the lead as the state holds it.
    Steps after ``applied`` are not a problem: a writer that died before applying its step leaves them,
    and the next to append rolls the state forward."""
    if lead.applied:
        reflected = next((entry for entry in entries if entry.seq == lead.applied), None)
        if reflected is None:
            return f"the state reflects entry {lead.applied}, which the chain does not hold"
        if lead.head is not None and lead.head != reflected.hash:
            return f"the state's head is not the hash of entry {lead.applied}"
        if reflected.state is None:
            return f"the state reflects entry {lead.applied}, which records no step"
    state = lead.model_dump(mode="json", exclude_none=True)
    return state_problem(state, [entry for entry in entries if entry.seq <= lead.applied])


def _comparable(state: dict[str, Any]) -> dict[str, Any]:
    """A state as a Lead reads it (defaults filled in, unknown fields left out), less what moves unchained, in
    the chain's form (None values left out at every depth: a verdict's ``passed`` None, as an entry holds it)."""
    lead = Lead.model_validate({**state, "applied": 0})
    return chain.compact(lead.model_dump(mode="json", exclude_none=True, exclude=set(UNCHAINED_STATE)))


def _shown(name: str, value: Any) -> str:
    return json.dumps(value, default=str) if name in SHOWN_VALUES else "(not shown)"


SIGNATURE_FIELDS = frozenset({"algorithm", "key_id", "signed", "mac"})


def _mac_valid(document: dict[str, Any], signature: dict[str, Any], key: EvidenceKey) -> tuple[bool | None, str | None]:
    """VerifyMac under the deployment's key and our algorithm: the file chooses neither. A signature that
    verifies must also name that key (what `evidence` wrote), and say nothing else."""
    if set(signature) != SIGNATURE_FIELDS or signature["algorithm"] != MAC_ALGORITHM:
        return False, None
    if signature["signed"] != "content_sha256":
        return False, None
    try:
        mac = base64.b64decode(str(signature["mac"]), validate=True)
    except ValueError:
        return False, None
    if not mac:
        return False, None
    try:
        out = key.kms.verify_mac(
            KeyId=key.key_id, MacAlgorithm=MAC_ALGORITHM, Message=str(document["content_sha256"]).encode(), Mac=mac
        )
        valid = bool(out.get("MacValid")) and _names_key(str(signature["key_id"]), key)
    except key.kms.exceptions.KMSInvalidMacException:
        return False, None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in KEY_UNUSABLE:
            return None, f"the deployment's evidence key {key.key_id} cannot be used here ({code})"
        if code in ("ValidationException", "InvalidKeyUsageException"):
            return False, None
        raise
    return valid, None


def _names_key(named: str, key: EvidenceKey) -> bool:
    """Whether the file names the deployment's key: its ARN (GenerateMac's KeyId), or its bare id."""
    if _same_key(named, key.key_id):
        return True
    arn = key.kms.describe_key(KeyId=key.key_id)["KeyMetadata"]["Arn"]  # the key given as an alias
    return named == arn


def _same_key(named: str | None, key_id: str | None) -> bool:
    """Whether two spellings name one key (an ARN or a bare id: the last path part)."""
    return bool(named and key_id) and str(named).rsplit("/", 1)[-1] == str(key_id).rsplit("/", 1)[-1]
