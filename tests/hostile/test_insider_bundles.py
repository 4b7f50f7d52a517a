"""An insider with a copy of the evidence files, the service's code and a KMS key of their own, but not the
deployment's evidence key: every edit of a genuine file is named by `tf-retainer verify` with exit 1 (issue
26), whatever they recompute. The named attacks first, then hypothesis-built edits (bench/hostile.py runs
them at ten times the examples).

What only the deployment's key tells (a chain rebuilt link by link with its history, state and digest made
to agree) is FORGED; what the file's own evidence chain tells is EDITED, at the place it shows; a file
that is not strict JSON or holds no chain is REFUSED.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from local.simulator import make_web_cert_id
from tests.support import forgery
from tests.support.cli import run
from tests.support.hostile import record, stack_budget
from tests.support.stack import aws_client, lead

PROP = "insider: edited evidence files"


@dataclass
class Files:
    """Genuine files signed with the deployment's key, and the insider's own key."""

    key_id: str
    own_key_id: str
    rejected: dict[str, Any]  # entries: the call's request, the refusal, two operator notes
    rejected_before_notes: dict[str, Any]  # the same lead's file, exported before the notes (an older head)
    retained: dict[str, Any]  # entries: the call's request, the retain, a note
    directory: Path

    def verify(self, stack: Any, document: dict[str, Any] | str, *, key: bool = True) -> tuple[int, dict[str, Any]]:
        path = self.directory / "edited.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
        with_key = ("--evidence-key-id", self.key_id) if key else ()
        code, out, err = run(stack, *with_key, "--json", "verify", str(path))
        assert out, err
        return code, json.loads(out)


def _export(stack: Any, key_id: str, lead_id: str) -> dict[str, Any]:
    code, out, err = run(stack, "--evidence-key-id", key_id, "evidence", lead_id, "-o", "-")
    assert code == 0, err
    document: dict[str, Any] = json.loads(out)
    return document


def _note(stack: Any, lead_id: str, text: str) -> None:
    from datetime import UTC, datetime

    from tf_retainer.domain.lead import Event

    stack.writer.add_history(
        stack.reader.get_lead(lead_id), [Event("note", "operator", {"text": text})], now=datetime.now(UTC)
    )


@pytest.fixture
def files(stack, tmp_path) -> Files:
    key_id = stack.provisioned.evidence_key_id
    assert key_id, "the local stack provisions the evidence key from the template"
    own = aws_client("kms").create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    refused_cert = make_web_cert_id()
    stack.sim.script(refused_cert, "not_found")
    refused = stack.post(lead(refused_cert)).json()
    assert refused["status"] == "rejected", refused
    before_notes = _export(stack, key_id, refused["lead_id"])
    _note(stack, refused["lead_id"], "called the vendor")
    _note(stack, refused["lead_id"], "vendor confirmed")
    retained = stack.post(lead()).json()
    assert retained["status"] == "retained", retained
    _note(stack, retained["lead_id"], "sold")
    return Files(
        key_id=key_id,
        own_key_id=own,
        rejected=_export(stack, key_id, refused["lead_id"]),
        rejected_before_notes=before_notes,
        retained=_export(stack, key_id, retained["lead_id"]),
        directory=tmp_path,
    )


def assert_named(code: int, verdict: dict[str, Any], *expected: str) -> None:
    assert code == 1, verdict
    for text in expected:
        assert text in verdict["verdict"], verdict


# ----------------------------------------------------------------------------------------- named attacks


def test_the_genuine_files_verify(stack, files):
    for document in (files.rejected, files.rejected_before_notes, files.retained):
        code, verdict = files.verify(stack, document)
        assert (code, verdict["verdict"].split(":")[0]) == (0, "valid"), verdict
        assert [link["seq"] for link in document["chain"]] == list(range(1, len(document["chain"]) + 1))
    assert len(files.rejected["chain"]) == 4 and len(files.retained["chain"]) == 3


def test_a_refused_lead_rewritten_as_retained_and_signed_with_the_insiders_own_key_is_forged(stack, files):
    """The issue's forgery: status, events, state and every readable section say retained, every hash of the
    chain and the digest recomputed, signed with a KMS key the insider made and named in the file."""
    forged = forgery.to_retained(files.rejected)
    assert forged["retain"]["status"] == "retained" and forged["state"]["status"] == "retained"
    kms = aws_client("kms")
    for signed in (
        forgery.self_signed(forged, kms, files.own_key_id),
        forgery.locally_signed(dict(forged), b"own secret", files.rejected["signature"]["key_id"]),  # names ours
        forgery.locally_signed(dict(forged), b"own secret", "arn:aws:kms:us-east-1:999999999999:key/mine"),
    ):
        code, verdict = files.verify(stack, signed)
        assert_named(code, verdict, "FORGED", f"the deployment's evidence key {files.key_id}")
        assert verdict["chain_ok"] is True  # everything but the signature was made to agree
    # Without the deployment's key nothing can be proven: never valid.
    code, verdict = files.verify(stack, forgery.self_signed(forged, kms, files.own_key_id), key=False)
    assert code == 3 and "not checked" in verdict["verdict"]


def test_a_file_without_its_chain_is_refused(stack, files):
    kms = aws_client("kms")
    for emptied in ({**files.retained, "chain": []}, {k: v for k, v in files.retained.items() if k != "chain"}):
        for signed in (forgery.redigest(dict(emptied)), forgery.self_signed(dict(emptied), kms, files.own_key_id)):
            code, verdict = files.verify(stack, signed)
            assert_named(code, verdict, "REFUSED: the file holds no evidence chain")


def test_a_key_given_twice_anywhere_is_refused(stack, files):
    # At the top, in the state, in an exchange: whichever value a reader takes, the file is refused.
    for at in (0, 7, 23, 101):
        text = forgery.dumps_with_repeat(files.rejected, at, "retained")
        code, verdict = files.verify(stack, text)
        assert code == 1 and verdict["verdict"].startswith("REFUSED: the JSON key"), verdict
    # Inside one of the chain's entries, with the chain rebuilt around it.
    chained = forgery.entries(files.rejected)
    document = forgery.rebuild(files.rejected, chained)
    content = document["chain"][1]["content"]
    document["chain"][1]["content"] = content[:-1] + ',"seq":2}'
    code, verdict = files.verify(stack, forgery.redigest(document))
    assert_named(code, verdict, "REFUSED: entry 2 of the evidence chain is not strict JSON", "given twice")
    # NaN is no JSON number either.
    code, verdict = files.verify(stack, json.dumps(files.rejected).replace('"attempts": 1', '"attempts": NaN', 1))
    assert code == 1 and "REFUSED" in verdict["verdict"], verdict


def test_a_reordered_chain_is_named(stack, files):
    links = files.rejected["chain"]
    swapped = {**files.rejected, "chain": [links[0], links[2], links[1], links[3]]}
    code, verdict = files.verify(stack, forgery.redigest(dict(swapped)))
    assert_named(code, verdict, "EDITED: the evidence chain is out of order (entry 3 at place 2)")
    # Renumbered as they now stand, each link's content still names its own number and predecessor.
    renumbered = [{**link, "seq": place} for place, link in enumerate(swapped["chain"], start=1)]
    code, verdict = files.verify(stack, forgery.redigest({**files.rejected, "chain": renumbered}))
    assert_named(code, verdict, "EDITED: the evidence chain breaks at entry 2")
    # Renumbered and relinked in the new order, the history made to follow: only the key tells.
    chained = forgery.entries(files.rejected)
    rebuilt = forgery.rebuild(files.rejected, [chained[0], chained[2], chained[1], chained[3]])
    code, verdict = files.verify(stack, forgery.self_signed(rebuilt, aws_client("kms"), files.own_key_id))
    assert_named(code, verdict, "FORGED")


def test_two_leads_spliced_into_one_chain_are_named(stack, files):
    """The retained lead's answer put in the refused lead's file, after its own request."""
    mixed = {**files.rejected, "chain": [files.rejected["chain"][0], *files.retained["chain"][1:]]}
    code, verdict = files.verify(stack, forgery.redigest(dict(mixed)))
    assert_named(code, verdict, "EDITED: the evidence chain breaks at entry 2")
    rebuilt = forgery.rebuild(
        files.rejected, [forgery.entries(files.rejected)[0], *forgery.entries(files.retained)[1:]]
    )
    code, verdict = files.verify(stack, forgery.self_signed(rebuilt, aws_client("kms"), files.own_key_id))
    assert_named(code, verdict, "FORGED")


def test_a_truncated_chain_is_named(stack, files):
    cut = {**files.rejected, "chain": files.rejected["chain"][:2]}
    code, verdict = files.verify(stack, forgery.redigest(dict(cut)))
    assert_named(code, verdict, "EDITED: history event")
    rebuilt = forgery.rebuild(files.rejected, forgery.entries(files.rejected)[:2])
    code, verdict = files.verify(stack, forgery.self_signed(rebuilt, aws_client("kms"), files.own_key_id))
    assert_named(code, verdict, "FORGED")


def test_an_older_head_replayed_as_the_current_file_is_named(stack, files):
    """The file exported before the operator's notes is genuine as of its time (exit 0, above); grafted into
    the newer file, or dated now, it is not."""
    older, newer = files.rejected_before_notes, files.rejected
    grafted = {**newer, **{k: older[k] for k in ("chain", "history", "exchanges")}}
    code, verdict = files.verify(stack, forgery.redigest(dict(grafted)))
    assert_named(code, verdict, "FORGED")
    redated = forgery.redigest({**older, "generated_at": newer["generated_at"]})
    code, verdict = files.verify(stack, redated)
    assert_named(code, verdict, "FORGED")
    # The older chain under the newer state, unsigned by the key: the history no longer agrees.
    mixed = {**newer, "chain": older["chain"]}
    code, verdict = files.verify(stack, forgery.redigest(dict(mixed)))
    assert_named(code, verdict, "EDITED: history event 5 is not what the evidence chain holds")


def test_a_state_changed_in_the_table_then_exported_with_the_real_key_is_named(stack, files):
    """An insider with table write access sets a refused lead's state to retained: the freshly exported file
    is signed by the deployment's key, and its state is not what the lead's chain holds."""
    lead_id = files.rejected["lead_id"]
    # Written as the store writes a state (its packed body and attributes), as an insider holding the
    # code and the table's write access would.
    stack.rewrite_state(lead_id, status="retained", retained=True, reason=None)
    exported = _export(stack, files.key_id, lead_id)
    assert exported["retain"]["status"] == "retained" and "signature" in exported
    code, verdict = files.verify(stack, exported)
    assert_named(code, verdict, "EDITED: the state's reason is not the lead's as entry 2 of the chain left it")


def test_an_exports_manifest_names_a_listed_file_replaced_or_missing(stack, files):
    """`evidence find --export`'s manifest is signed: a file it lists, swapped for another genuine one
    (the insider's own choice of which leads to show), or taken away, is named."""
    phone = "(512) 555-1212"  # tests.support.stack.lead's
    export = files.directory / "export"
    code, _, err = run(
        stack, "--evidence-key-id", files.key_id, "evidence", "find", "--phone", phone, "--export", str(export)
    )
    assert code == 0, err
    manifest = export / "manifest.json"
    listed = json.loads(manifest.read_text())["leads"]
    assert len(listed) == 2
    verify = ("--evidence-key-id", files.key_id, "--json", "verify", str(manifest))
    assert run(stack, *verify)[0] == 0
    first, second = (export / entry["file"] for entry in listed)
    kept = first.read_bytes()
    first.write_bytes(second.read_bytes())  # genuine, signed, but not the file listed
    code, out, _ = run(stack, *verify)
    assert_named(code, json.loads(out), f"EDITED: {first.name} is not the file the manifest lists")
    first.unlink()
    code, out, _ = run(stack, *verify)
    assert_named(code, json.loads(out), f"EDITED: {first.name}, listed in the manifest, is not beside it")
    first.write_bytes(kept)
    assert run(stack, *verify)[0] == 0


# ----------------------------------------------------------------------------------------- the property

EDITS = ("field", "to_retained", "no_chain", "repeat_key", "reorder", "splice", "truncate", "older_head")
FINISHES = ("as_is", "digest", "own_key", "local_hmac_naming_ours")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def test_every_edit_of_a_genuine_file_is_named_with_exit_1(stack, files):
    kms = aws_client("kms")
    genuine = {"rejected": files.rejected, "retained": files.retained}

    def finish(document: dict[str, Any], how: str) -> dict[str, Any]:
        if how == "as_is":
            return document
        forgery.redigest(document)
        if how == "own_key":
            return forgery.self_signed(document, kms, files.own_key_id)
        if how == "local_hmac_naming_ours":
            return forgery.locally_signed(document, b"insider", files.rejected["signature"]["key_id"])
        return document

    def edited(data: st.DataObject, kind: str, source: dict[str, Any]) -> dict[str, Any] | str:
        chained = forgery.entries(source)
        if kind == "field":
            paths = list(forgery.leaves(source))
            path = data.draw(st.sampled_from(paths), label="path")
            value = data.draw(JSON_VALUES, label="value")
            node: Any = source
            for part in path:
                node = node[part]
            assume(json.dumps(value, sort_keys=True) != json.dumps(node, sort_keys=True))
            return forgery.replaced(source, path, value)
        if kind == "to_retained":
            return forgery.to_retained(files.rejected)
        if kind == "no_chain":
            return {**source, "chain": []}
        if kind == "repeat_key":
            at = data.draw(st.integers(0, 10_000), label="object")
            return forgery.dumps_with_repeat(source, at, data.draw(JSON_VALUES, label="value"))
        if kind == "reorder":
            order = data.draw(st.permutations(range(len(chained))), label="order")
            assume(list(order) != sorted(order))
            if data.draw(st.booleans(), label="relinked"):
                return forgery.rebuild(source, [chained[i] for i in order])
            return {**source, "chain": [source["chain"][i] for i in order]}
        if kind == "splice":
            other = files.retained if source is files.rejected else files.rejected
            cut = data.draw(st.integers(1, len(chained) - 1), label="cut")
            tail = forgery.entries(other)[data.draw(st.integers(1, len(other["chain"]) - 1), label="from") :]
            if data.draw(st.booleans(), label="relinked"):
                return forgery.rebuild(source, chained[:cut] + tail)
            links = source["chain"][:cut] + other["chain"][len(other["chain"]) - len(tail) :]
            return {**source, "chain": links}
        if kind == "truncate":
            keep = data.draw(st.integers(1, len(chained) - 1), label="keep")
            if data.draw(st.booleans(), label="relinked"):
                return forgery.rebuild(source, chained[:keep])
            return {**source, "chain": source["chain"][:keep]}
        older = files.rejected_before_notes  # older_head
        parts = data.draw(
            st.sets(st.sampled_from(("chain", "history", "exchanges", "state")), min_size=1), label="parts"
        )
        return {**files.rejected, **{part: older[part] for part in parts}}

    @stack_budget()
    @given(
        data=st.data(),
        kind=st.sampled_from(EDITS),
        which=st.sampled_from(sorted(genuine)),
        how=st.sampled_from(FINISHES),
    )
    def edit_is_named(data: st.DataObject, kind: str, which: str, how: str) -> None:
        document = edited(data, kind, genuine[which])
        if not isinstance(document, str):
            assume(document != genuine[which] and document != files.rejected)
            document = finish(document, how)
        try:
            code, verdict = files.verify(stack, document)
        except Exception as exc:
            record(PROP, f"exception {type(exc).__name__}")
            raise
        label = verdict["verdict"].split(":")[0]
        record(PROP, f"exit {code} {label}")
        assert code == 1, (kind, how, verdict)
        assert label in ("EDITED", "FORGED", "REFUSED"), verdict

    edit_is_named()


def test_the_edits_cover_every_kind_and_finish():
    """The property draws from every kind of edit listed in the module's docstring, each finished every way."""
    assert set(EDITS) >= {"to_retained", "no_chain", "repeat_key", "reorder", "splice", "truncate", "older_head"}
    assert len(list(itertools.product(EDITS, FINISHES))) == len(EDITS) * len(FINISHES)
