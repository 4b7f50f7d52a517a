"""`tf-retainer revocations add|import|list|show` on the in-process stack: the API's use case as
``operator:<actor>``, the consumer known to the ledger only by the consumer index's tokens, the words read
back with the consumer key, a file checked whole before anything is written."""

from __future__ import annotations

from pathlib import Path

from tf_retainer.domain.contacts import consumer_fingerprints

from tests.support.cli import assert_no_secrets, run, run_json
from tests.support.stack import lead


def test_an_operator_records_a_revocation_and_reads_it_back_without_the_consumers_contacts(stack):
    posted = stack.post(lead()).json()
    words = "Customer said on the phone: stop calling 512 555 1212"
    added = run_json(
        stack,
        "revocations",
        "add",
        "--phone",
        "+1 (512) 555-1212",
        "--id",
        "CALL-77",
        "--message",
        words,
        "--actor",
        "dana",
    )
    assert (added["status"], added["leads"]) == ("recorded", 1)
    headers = {"x-api-key": stack.vendor_key}
    closed = stack.gateway.handle("GET", f"/leads/{posted['lead_id']}/contactable", headers, b"").json()
    assert closed["reason"] == "consent_revoked"

    [listed] = run_json(stack, "revocations", "list")
    assert (listed["revocation_id"], listed["recorded_by"], listed["leads"]) == (
        added["revocation_id"],
        "operator:dana",
        1,
    )
    shown = run_json(stack, "revocations", "show", added["revocation_id"])
    assert shown["message"] == words and shown["leads"] == [posted["lead_id"]]
    fingerprints = consumer_fingerprints(None, "+1 (512) 555-1212")["phone"]
    assert len(shown["consumer"]["phone"]) == len(fingerprints)  # one token per spelling of the number
    assert not set(shown["consumer"]["phone"]) & set(fingerprints)  # tokens, never the bare SHA-1
    code, human, err = run(stack, "revocations", "show", added["revocation_id"])
    assert code == 0 and "phone tokens" in human, err
    assert_no_secrets(stack, human.replace(words, ""))  # only the words themselves name the number


def test_an_import_with_one_bad_row_writes_nothing(stack, tmp_path: Path):
    stack.post(lead())
    rows = tmp_path / "stops.csv"
    rows.write_text("id,phone,via,message\nSM-1,5125551212,sms,STOP\nSM-2,not a number,sms,STOP\n")
    code, _, err = run(stack, "revocations", "import", str(rows))
    assert code != 0 and "row 3" in err and "phone" in err
    assert run_json(stack, "revocations", "list") == []
    rows.write_text("id,phone,via,message\nSM-1,5125551212,sms,STOP\nSM-3,,sms,\n")
    code, _, err = run(stack, "revocations", "import", str(rows))
    assert code != 0 and "row 3" in err
    rows.write_text("id,phone,via,message\nSM-1,5125551212,sms,STOP\n")
    imported = run_json(stack, "revocations", "import", str(rows))
    assert imported["counts"] == {"recorded": 1, "repeated": 0, "refused": 0}
