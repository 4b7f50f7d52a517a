"""The evidence archive: final leads older than ARCHIVE_AFTER_DAYS go to S3 (Object Lock), their items
expire early, and `tf-retainer evidence` reads an archived lead's bundle back equal to the table's."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from tf_retainer.aws.archive_bucket import S3ArchiveBucket
from tf_retainer.domain import chain
from tf_retainer.domain.lead import Event
from tf_retainer.evidence.archive import Archiver
from tf_retainer.store import keys
from tf_retainer.store.archive_marks import ArchiveMarks

from local.simulator import make_web_cert_id
from tests.support.cli import run
from tests.support.screening import publish_rules
from tests.support.stack import EMAIL, PHONE, VENDOR, aws_client, lead
from tf_retainer_ops.bundle import evidence_document
from tf_retainer_ops.evidence import Archive, locate

OTHER_VENDOR = "other-vendor"
AFTER_DAYS, GRACE_DAYS, RETENTION_DAYS = 90, 30, 1825
GENERATED = datetime(2030, 1, 1, tzinfo=UTC)
RECORD_FIELDS = {"format", "lead_id", "vendor", "received_at", "state", "history", "exchanges", "chain", "certificate"}


def archiver(stack, *, days_later: int, marks: ArchiveMarks | None = None) -> Archiver:
    """The archiver as the function builds it, its clock ``days_later`` days after today at noon."""
    moment = datetime.combine(date.today() + timedelta(days=days_later), time(12), tzinfo=UTC)
    return Archiver(
        leads=stack.leads,
        marks=marks or ArchiveMarks(stack.provisioned.table_name, client=stack.dynamodb),
        bucket=S3ArchiveBucket(aws_client("s3"), stack.provisioned.archive_bucket),
        after_days=AFTER_DAYS,
        grace_days=GRACE_DAYS,
        clock=lambda: moment,
    )


def run_archiver(stack, *, days_later: int = AFTER_DAYS + 2, marks: ArchiveMarks | None = None) -> Any:
    return archiver(stack, days_later=days_later, marks=marks).run(
        [VENDOR, OTHER_VENDOR], time_left=lambda: float("inf")
    )


def content(document: dict[str, Any]) -> str:
    """A bundle's content: everything but when it was generated and the digest over that."""
    return json.dumps(
        {k: v for k, v in document.items() if k not in ("generated_at", "content_sha256")}, sort_keys=True
    )


def archive_reader(stack) -> Archive:
    marks = ArchiveMarks(stack.provisioned.table_name, client=stack.dynamodb)
    return Archive(marks=marks, bucket=S3ArchiveBucket(aws_client("s3"), stack.provisioned.archive_bucket))


def table_bundle(stack, lead_id: str) -> str:
    return content(evidence_document(locate(stack.leads, lead_id).record, now=GENERATED))


@pytest.fixture
def leads(stack) -> dict[str, str]:
    """Two retained leads and a rejected one of our vendor, one of another vendor, and a pending one."""
    other_key = stack.add_vendor(OTHER_VENDOR)
    first = stack.post(lead(lead_id="A-1")).json()
    second = stack.post(lead(lead_id="A-2")).json()
    reused = stack.post(lead(first["cert_id"], lead_id="A-3")).json()
    other = stack.post(lead(lead_id="B-1"), key=other_key).json()
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable"])
    pending = stack.post(lead(cert_id, lead_id="A-4")).json()
    assert (reused["status"], pending["status"]) == ("rejected", "pending")
    ids = {"first": first, "second": second, "reused": reused, "other": other, "pending": pending}
    return {name: answer["lead_id"] for name, answer in ids.items()}


def items_of(stack, lead_id: str) -> list[dict[str, Any]]:
    return [item for item in stack.all_items() if item["pk"] == keys.lead_pk(lead_id)]


def verified(record: dict[str, Any]) -> list[chain.Entry]:
    """An evidence record's chain checked link by link from the lead's identity (raises BrokenChain): its
    certificate, or none (``cert_id`` null) for a lead kept on its LeadiD token alone."""
    links = [chain.Link(link["seq"], link["content"].encode(), link["hash"]) for link in record["chain"]]
    state = record["state"]
    return chain.verify(
        links, chain.genesis(record["lead_id"], state["vendor"], state.get("cert_id"), state["received_at"])
    )


def archived_lines(stack, uri: str) -> list[dict[str, Any]]:
    """The evidence records in an archived part (s3://bucket/key)."""
    bucket = stack.provisioned.archive_bucket
    body = aws_client("s3").get_object(Bucket=bucket, Key=uri.removeprefix(f"s3://{bucket}/"))["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).splitlines()]


def early_expiry(days_later: int = AFTER_DAYS + 2) -> tuple[datetime, int]:
    """The archiver's moment (``run_archiver``'s default) and the TTL it gives the entries expiring early."""
    moment = datetime.combine(date.today() + timedelta(days=days_later), time(12), tzinfo=UTC)
    return moment, int((moment + timedelta(days=GRACE_DAYS)).timestamp())


def expire_early(stack, lead_id: str, early: int) -> None:
    """What TTL removes of an archived lead: its items expiring early."""
    raw = aws_client("dynamodb")
    for item in items_of(stack, lead_id):
        if int(item["ttl"]) == early:
            key = {"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}}
            raw.delete_item(TableName=stack.provisioned.table_name, Key=key)


def test_archive_then_bundle_round_trips_from_s3(stack, leads, tmp_path: Path):
    final = [leads[name] for name in ("first", "second", "reused", "other")]
    # Its call's request, its outcome and two notes make `second`'s chain four entries long: the request and
    # the first note are neither the state's entry nor the last.
    noted_before = leads["second"]
    for text in ("first look", "second look"):
        note = Event("operator_note", "alice", {"note": text})
        stack.writer.add_history(stack.reader.get_lead(noted_before), [note], now=datetime.now(UTC))
    before = {lead_id: table_bundle(stack, lead_id) for lead_id in final}

    result = run_archiver(stack)

    # Only the final leads, one object per vendor and day, named by vendor, date and content.
    assert (result.archived, result.not_final, result.complete) == (4, 1, True)
    day = date.today().isoformat()
    assert len(result.objects) == 2
    s3 = aws_client("s3")
    bucket = stack.provisioned.archive_bucket
    by_vendor = {}
    for uri in result.objects:
        match = re.fullmatch(rf"s3://{bucket}/evidence/vendor=([\w-]+)/date={day}/part-[0-9a-f]{{32}}\.jsonl\.gz", uri)
        assert match, uri
        lines = archived_lines(stack, uri)
        by_vendor[match[1]] = sorted(line["lead_id"] for line in lines)
        assert all(set(line) == RECORD_FIELDS for line in lines)
        # Object Lock: compliance mode, kept the retention period from its writing.
        head = s3.head_object(Bucket=bucket, Key=uri.removeprefix(f"s3://{bucket}/"))
        assert head["ObjectLockMode"] == "COMPLIANCE"
        kept = head["ObjectLockRetainUntilDate"] - head["LastModified"]
        assert abs(kept - timedelta(days=RETENTION_DAYS)) < timedelta(hours=1)
    assert by_vendor == {VENDOR: sorted(final[:3]), OTHER_VENDOR: [leads["other"]]}

    # Each archived lead's state says where; its chain entries expire GRACE_DAYS after the run but the
    # head (the state's entry and the last), which later history follows; the state keeps the retention
    # TTL (the consumer index still finds it); the pending lead is untouched.
    moment, early = early_expiry()
    expiring = {}
    for lead_id in final:
        items = items_of(stack, lead_id)
        (state,) = [item for item in items if keys.is_state(item)]
        assert state["archived_to"] in result.objects
        entries = {keys.entry_seq(item["sk"]): int(item["ttl"]) for item in items if keys.is_entry(item)}
        head = {int(state["applied"]), max(entries)}
        assert all(ttl > moment.timestamp() + 1000 * 86400 for seq, ttl in entries.items() if seq in head)
        assert int(state["ttl"]) > moment.timestamp() + 1000 * 86400
        expiring[lead_id] = sorted(seq for seq, ttl in entries.items() if ttl == early)
        assert expiring[lead_id] == sorted(set(entries) - head)
    assert expiring[noted_before] == [1, 3]
    assert result.items_expiring_early == sum(len(seqs) for seqs in expiring.values())
    assert "archived_to" not in next(i for i in items_of(stack, leads["pending"]) if keys.is_state(i))

    # What TTL removes is removed: the bundle now comes from S3, equal in content to the one made before.
    for lead_id in final:
        expire_early(stack, lead_id, early)
    # History recorded after archiving (an operator's note, a hold) is read from the table and appended.
    noted = leads["other"]
    note = Event("operator_note", "alice", {"note": "demand letter 2026-11"})
    stack.writer.add_history(stack.reader.get_lead(noted), [note], now=moment + timedelta(days=1))
    for lead_id in final:
        output = tmp_path / f"{lead_id}.json"
        code, out, err = run(stack, "evidence", lead_id, "-o", str(output), "--unsigned")
        assert code == 0, err
        assert "from the archive: s3://" in out
        bundle = json.loads(output.read_text())
        if lead_id == noted:
            assert bundle["history"][-1]["type"] == "operator_note"
            bundle["history"].pop()
            bundle["chain"].pop()  # the note's own entry, written after the archive
        assert content(bundle) == before[lead_id]
        # The archived chain, with the entries written since, still verifies from the lead's identity.
        record = locate(stack.leads, lead_id, archive=archive_reader(stack)).record.model_dump(mode="json")
        # Entries: the call's request and its answer (the reused lead made no call: its refusal only),
        # with the notes written before and after the archive.
        expected = {leads["first"]: 2, noted_before: 4, leads["reused"]: 1, noted: 3}
        assert len(verified(record)) == expected[lead_id]
    # `evidence verify` checks the whole chain of a lead whose older entries left the table.
    code, out, err = run(stack, "--json", "evidence", "verify", noted_before)
    assert code == 0, err
    assert (json.loads(out)["entries"], json.loads(out)["source"].startswith("s3://")) == (4, True)


def test_a_lead_without_a_certificate_round_trips_through_the_archive_with_no_certificate_invented(
    screened, tmp_path: Path
):
    """A lead kept on its LeadiD token alone (issue 25): archived with its token's claim where a certificate's
    would be, read back from S3 equal to the table's bundle, its chain verified from an identity without a
    certificate."""
    publish_rules(screened.provisioned.table_name, consent_records={"required": "either"})
    token = str(uuid.uuid4()).upper()
    posted = screened.post({"email": EMAIL, "phone": PHONE, "universal_leadid": token}).json()
    assert (posted["status"], posted["kept_on"]) == ("retained", ["jornaya"]), posted
    lead_id = posted["lead_id"]
    before = table_bundle(screened, lead_id)
    entries = len(verified(locate(screened.leads, lead_id).record.model_dump(mode="json")))

    result = run_archiver(screened)

    assert result.archived == 1
    [line] = [line for line in archived_lines(screened, result.objects[0]) if line["lead_id"] == lead_id]
    assert set(line) == RECORD_FIELDS and "cert_id" not in line["state"], line["state"]
    certificate = line["certificate"]
    assert (certificate["cert_id"], certificate["leadid_token"]) == (None, token)
    assert certificate["claim"]["lead_id"] == lead_id and "cert_id" not in certificate["claim"]

    _, early = early_expiry()
    expire_early(screened, lead_id, early)
    output = tmp_path / "token-lead.json"
    code, out, err = run(screened, "evidence", lead_id, "-o", str(output), "--unsigned")
    assert code == 0 and "from the archive: s3://" in out, err
    bundle = json.loads(output.read_text())
    assert content(bundle) == before
    assert bundle["kept_on"] == ["jornaya"] and bundle["certificate"]["cert_id"] is None
    assert bundle["certificate_record"]["leadid_token"] == token
    record = locate(screened.leads, lead_id, archive=archive_reader(screened)).record.model_dump(mode="json")
    assert len(verified(record)) == entries
    code, out, err = run(screened, "--json", "evidence", "verify", lead_id)
    assert code == 0, err
    assert (json.loads(out)["entries"], json.loads(out)["source"].startswith("s3://")) == (entries, True)
    assert screened.sim.requests == []  # TrustedForm never asked, nothing of it in the evidence


def test_only_leads_past_the_cutoff_are_archived_and_a_rerun_archives_nothing_twice(stack, leads):
    young = run_archiver(stack, days_later=AFTER_DAYS - 1)
    assert (young.archived, young.objects) == (0, [])
    first = run_archiver(stack)
    again = run_archiver(stack)
    assert first.archived == 4 and (again.archived, again.objects, again.already_archived) == (0, [], 4)
    versions = aws_client("s3").list_object_versions(Bucket=stack.provisioned.archive_bucket)["Versions"]
    assert len(versions) == len(first.objects) == 2


def test_a_run_that_died_before_marking_is_finished_on_the_same_object_and_a_held_lead_keeps_its_expiry(stack, leads):
    class DiesAfterTheWrite(ArchiveMarks):
        def mark(self, lead_id: str, **kwargs: Any) -> bool:
            raise RuntimeError("killed")

    held = leads["first"]
    stack.writer.add_history(stack.reader.get_lead(held), [Event("operator_note", "alice", {})], now=datetime.now(UTC))
    assert run(stack, "hold", "set", "--lead", held, "--reason", "matter 77")[0] == 0
    expiries = {item["sk"]: (item.get("ttl"), item.get("held_ttl")) for item in items_of(stack, held)}
    with pytest.raises(RuntimeError):
        run_archiver(stack, marks=DiesAfterTheWrite(stack.provisioned.table_name, client=stack.dynamodb))
    s3 = aws_client("s3")
    written = {v["Key"] for v in s3.list_object_versions(Bucket=stack.provisioned.archive_bucket)["Versions"]}
    result = run_archiver(stack)
    assert (result.archived, result.held) == (4, 1)
    versions = [v["Key"] for v in s3.list_object_versions(Bucket=stack.provisioned.archive_bucket)["Versions"]]
    assert written <= set(versions) and len(versions) == len(set(versions)) == 2  # served again, not rewritten
    assert {item["sk"]: (item.get("ttl"), item.get("held_ttl")) for item in items_of(stack, held)} == expiries


def test_an_archived_lead_whose_state_is_gone_is_found_by_vendor_and_day(stack, leads, tmp_path: Path):
    lead_id = leads["second"]
    before = table_bundle(stack, lead_id)
    run_archiver(stack)
    raw = aws_client("dynamodb")
    for item in items_of(stack, lead_id):
        raw.delete_item(TableName=stack.provisioned.table_name, Key={"pk": {"S": item["pk"]}, "sk": {"S": item["sk"]}})
    assert run(stack, "evidence", lead_id, "-o", str(tmp_path / "x.json"))[0] != 0
    output = tmp_path / "found.json"
    code, _, err = run(
        stack,
        "--archive-bucket",
        stack.provisioned.archive_bucket,
        "evidence",
        lead_id,
        "--vendor",
        VENDOR,
        "--received",
        date.today().isoformat(),
        "-o",
        str(output),
        "--unsigned",
    )
    assert code == 0, err
    assert content(json.loads(output.read_text())) == before


def object_legal_hold(stack, lead_id: str) -> str:
    """The S3 Object Lock legal hold on the object the lead was archived to."""
    bucket = stack.provisioned.archive_bucket
    uri = next(i for i in items_of(stack, lead_id) if keys.is_state(i))["archived_to"]
    key = uri.removeprefix(f"s3://{bucket}/")
    return aws_client("s3").get_object_legal_hold(Bucket=bucket, Key=key)["LegalHold"].get("Status", "none")


def test_a_lead_held_after_it_was_archived_has_its_object_put_under_legal_hold(stack, leads):
    """Its older entries may be only in the archive: the hold keeps the object past its retention too."""
    result = run_archiver(stack)
    held, other = leads["first"], leads["other"]
    assert run(stack, "hold", "set", "--lead", held, "--reason", "matter 78")[0] == 0
    assert result.archived == 4
    assert object_legal_hold(stack, held) == "ON"
    assert object_legal_hold(stack, other) != "ON"  # another vendor's object: not held


def test_a_hold_set_while_the_archiver_runs_reaches_the_archive_object(stack, leads):
    """Issue 21: the hold is set after the archiver read the lead (not held yet, not archived yet) and before
    it marks it archived: the hold finds no archived object to lock, so the archiver's marking must see
    the hold and lock the object itself."""
    held = leads["first"]

    class HoldSetMidRun(ArchiveMarks):
        def read(self, lead_id: str) -> Any:
            mark = super().read(lead_id)
            if lead_id == held:
                assert run(stack, "hold", "set", "--lead", held, "--reason", "matter 79")[0] == 0
            return mark

    result = run_archiver(stack, marks=HoldSetMidRun(stack.provisioned.table_name, client=stack.dynamodb))
    assert result.archived == 4 and result.held == 1
    assert object_legal_hold(stack, held) == "ON"
    assert object_legal_hold(stack, leads["other"]) != "ON"
