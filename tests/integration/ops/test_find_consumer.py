"""`tf-retainer evidence find`: from a consumer's phone or email to their leads (any vendor) and an
exported, verifiable set of bundles, through the consumer indexes - never a Scan, never the clear value
written anywhere."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from botocore.client import BaseClient
from tf_retainer.domain.contacts import lead_fingerprints
from tf_retainer.store import keys

from tests.support.cli import assert_no_secrets, run, run_json
from tests.support.stack import VENDOR, aws_client, lead

OTHER_VENDOR = "other-vendor"
JANE_EMAIL, JANE_PHONE = "Jane.Doe@Example.com", "(512) 555-1212"


@pytest.fixture
def dynamodb_calls(monkeypatch) -> list[str]:
    """Every DynamoDB operation the CLI makes; a Scan fails the test outright."""
    calls: list[str] = []
    make_api_call = BaseClient._make_api_call

    def recorded(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls.append(operation)
            assert operation != "Scan", "find by consumer must not scan the table"
        return make_api_call(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    return calls


@pytest.fixture
def consumers(stack) -> dict[str, dict[str, Any]]:
    """Jane's leads from two vendors, leads sharing only her email or only her phone, and a stranger's."""
    other_key = stack.add_vendor(OTHER_VENDOR)
    both = stack.post(lead(email=JANE_EMAIL, phone=JANE_PHONE, lead_id="A-1")).json()
    email_only = stack.post(lead(email=" jane.doe@example.COM", phone="(512) 555-0000", lead_id="B-1"), key=other_key)
    # Her phone written another way, on another vendor's lead that reuses the first lead's certificate:
    # refused, and still hers.
    phone_only = stack.post(
        lead(both["cert_id"], email="someone@else.example", phone="512-555-1212", lead_id="C-1"), key=other_key
    )
    stranger = stack.post(lead(email="stranger@else.example", phone="(212) 555-9999", lead_id="D-1")).json()
    leads = {"both": both, "email_only": email_only.json(), "phone_only": phone_only.json(), "stranger": stranger}
    assert leads["phone_only"]["reason"] == "certificate_reused"
    return leads


def test_find_by_phone_returns_exactly_the_leads_with_that_phone_from_every_vendor(stack, consumers, dynamodb_calls):
    found = run_json(stack, "evidence", "find", "--phone", JANE_PHONE)
    assert [lead["lead_id"] for lead in found["leads"]] == [
        consumers["both"]["lead_id"],
        consumers["phone_only"]["lead_id"],
    ]
    first, second = found["leads"]
    assert (first["vendor"], first["vendor_lead_id"], first["status"]) == (VENDOR, "A-1", "retained")
    assert first["cert_id"] == consumers["both"]["cert_id"] and first["final_at"] and first["received_at"]
    assert (second["vendor"], second["vendor_lead_id"]) == (OTHER_VENDOR, "C-1")
    assert (second["status"], second["reason"]) == ("rejected", "certificate_reused")
    assert found["query"] == {"phone": lead_fingerprints(None, JANE_PHONE)["phone"]}
    assert "Query" in dynamodb_calls and "Scan" not in dynamodb_calls


def test_find_by_email_returns_exactly_the_leads_with_that_email(stack, consumers, dynamodb_calls):
    code, out, err = run(stack, "evidence", "find", "--email", JANE_EMAIL)
    assert code == 0, err
    wanted = [consumers["both"]["lead_id"], consumers["email_only"]["lead_id"]]
    listed = [line.split()[1] for line in out.splitlines() if line.startswith("  ")]
    assert listed == wanted
    assert consumers["phone_only"]["lead_id"] not in out and consumers["stranger"]["lead_id"] not in out
    assert f"email sha1 {lead_fingerprints(JANE_EMAIL, None)['email']}: 2 lead(s)" in out
    assert_no_secrets(stack, out, err)
    assert "Scan" not in dynamodb_calls


def test_nobody_found_is_said_and_is_not_an_error(stack, consumers):
    code, out, err = run(stack, "evidence", "find", "--phone", "(999) 000-0000")
    assert code == 0 and ": 0 lead(s)" in out
    assert "no lead carries this fingerprint" in err


def test_find_needs_exactly_one_contact_and_refuses_an_empty_one(stack):
    assert run(stack, "evidence", "find")[0] == 2
    assert run(stack, "evidence", "find", "--phone", "1", "--email", "a@b.example")[0] == 2
    code, _, err = run(stack, "evidence", "find", "--phone", "( )")
    assert code == 2 and "( )" not in err
    assert run(stack, "evidence", "some-lead-id", "--phone", "5125551212")[0] == 2  # find's options, not a lead's


def test_export_writes_a_verifiable_bundle_per_lead_and_a_manifest_without_contact_data(
    stack, consumers, tmp_path, dynamodb_calls
):
    key_id = aws_client("kms").create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    export_dir = tmp_path / "demand-letter-2026-11"
    code, out, err = run(
        stack, "--evidence-key-id", key_id, "evidence", "find", "--phone", JANE_PHONE, "--export", str(export_dir)
    )
    assert code == 0, err
    wanted = {consumers["both"]["lead_id"], consumers["phone_only"]["lead_id"]}
    assert sorted(path.name for path in export_dir.iterdir()) == sorted(
        ["manifest.json", *(f"evidence-{lead_id}.json" for lead_id in wanted)]
    )

    manifest_text = (export_dir / "manifest.json").read_text()
    manifest = json.loads(manifest_text)
    assert manifest["format"] == "tf-retainer-consumer-export/1"
    assert manifest["query"]["fingerprints"] == lead_fingerprints(None, JANE_PHONE)
    assert {entry["lead_id"] for entry in manifest["leads"]} == wanted
    for entry in manifest["leads"]:
        bundle_path = export_dir / entry["file"]
        bundle = json.loads(bundle_path.read_text())
        assert bundle["lead_id"] == entry["lead_id"] and bundle["content_sha256"] == entry["content_sha256"]
        assert hashlib.sha256(bundle_path.read_bytes()).hexdigest() == entry["file_sha256"]
        assert entry["signed"] is True
        verdict = run_json(stack, "--evidence-key-id", key_id, "verify", str(bundle_path))
        assert (verdict["digest_ok"], verdict["signature_ok"]) == (True, True), entry["file"]
    # The manifest is signed too: a lead taken out of it is detected, and so is a file it lists, changed.
    verdict = run_json(stack, "--evidence-key-id", key_id, "verify", str(export_dir / "manifest.json"))
    assert verdict["signature_ok"] is True and "every file listed is beside it" in verdict["verdict"]
    shortened = {**manifest, "leads": manifest["leads"][:1]}
    (tmp_path / "shortened.json").write_text(json.dumps(shortened))
    assert run(stack, "--evidence-key-id", key_id, "verify", str(tmp_path / "shortened.json"))[0] == 1

    # No clear email or phone in anything written or printed (the fingerprints only).
    everything = [manifest_text, out, err, *(path.read_text() for path in export_dir.iterdir())]
    assert_no_secrets(stack, *everything)
    assert "Scan" not in dynamodb_calls

    # An export never mixes with an earlier one.
    code, _, err = run(stack, "evidence", "find", "--phone", JANE_PHONE, "--export", str(export_dir))
    assert code == 2 and "not empty" in err


def _as_stored_before_the_index(stack, lead_id: str) -> None:
    stack.dynamodb.update_item(
        TableName=stack.provisioned.table_name,
        Key={"pk": {"S": keys.lead_pk(lead_id)}, "sk": {"S": keys.STATE}},
        UpdateExpression="REMOVE " + ", ".join(keys.CONTACT_INDEX_KEYS.values()),
    )


def test_reindex_puts_leads_stored_before_the_index_into_it_once(stack, consumers, dynamodb_calls):
    old = consumers["both"]["lead_id"]
    _as_stored_before_the_index(stack, old)
    found = run_json(stack, "evidence", "find", "--email", JANE_EMAIL)
    assert old not in [lead["lead_id"] for lead in found["leads"]]

    counts = run_json(stack, "evidence", "reindex")
    assert counts[VENDOR] == {"indexed": 1, "already": 1}  # the stranger's lead was indexed at intake
    assert counts[OTHER_VENDOR] == {"indexed": 0, "already": 2}
    found = run_json(stack, "evidence", "find", "--email", JANE_EMAIL)
    assert [lead["lead_id"] for lead in found["leads"]] == [old, consumers["email_only"]["lead_id"]]
    assert run_json(stack, "evidence", "reindex", "--vendor", VENDOR)[VENDOR] == {"indexed": 0, "already": 2}
    assert "Scan" not in dynamodb_calls


def test_the_evidence_bundle_holds_no_index_bookkeeping(stack, consumers):
    bundle = json.loads(run(stack, "evidence", consumers["both"]["lead_id"], "-o", "-")[1])
    assert not set(keys.CONTACT_INDEX_KEYS.values()) & set(bundle["state"])


def test_find_by_phone_also_finds_the_number_spelt_with_its_country_code(stack, consumers):
    """TrustedForm's normalisation keeps a "+1" or a leading 1: the same number, three fingerprints."""
    with_code = stack.post(lead(email="x@else.example", phone="+1 512 555 1212", lead_id="E-1")).json()
    with_one = stack.post(lead(email="y@else.example", phone="1.512.555.1212", lead_id="F-1")).json()
    found = run_json(stack, "evidence", "find", "--phone", JANE_PHONE)
    assert {lead["lead_id"] for lead in found["leads"]} == {
        consumers["both"]["lead_id"],
        consumers["phone_only"]["lead_id"],
        with_code["lead_id"],
        with_one["lead_id"],
    }
    assert len(found["other_spellings"]["phone"]) == 2  # "15125551212" and "+15125551212"
    # Asked with the country code, the national spelling is found too; another number is not.
    again = run_json(stack, "evidence", "find", "--phone", "+1 (512) 555-1212")
    assert {lead["lead_id"] for lead in again["leads"]} == {lead["lead_id"] for lead in found["leads"]}
    assert consumers["stranger"]["lead_id"] not in {lead["lead_id"] for lead in again["leads"]}
