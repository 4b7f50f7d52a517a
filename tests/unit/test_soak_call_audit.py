"""The fault soak's audit of TrustedForm calls (bench/soak_audit.py): a call the simulator saw with no request on
record is a finding, and the finding says what the simulator saw of it, so that an audit's miss (a body the
simulator never read, a request recorded after the call arrived) can be told from the service's."""

from __future__ import annotations

from tf_retainer.domain.chain import Entry

from bench.soak_audit import CallAudit, audit_calls

BODY = '{"reference": "L-1"}'


def recorded(at: str, body: str = BODY) -> Entry:
    return Entry(seq=1, at=at, prev="", calls=[{"call_id": "1.1/x", "request": {"body": body}}], exchanges=[])


def call(time: str, body_text: str | None = BODY, status: int | None = 200) -> dict:
    return {"time": time, "body_text": body_text, "status": status, "behaviour": "success", "retained": False}


def test_a_call_on_record_before_it_arrived_is_no_finding():
    audit = CallAudit()
    audit_calls(audit, "L-1", "C", [call("2026-12-07T10:00:00.100Z")], [recorded("2026-12-07T10:00:00.050000Z")])
    assert audit.calls_without_request == 0


def test_a_finding_says_what_the_simulator_saw_of_the_call():
    audit = CallAudit()
    made = [call("2026-12-07T10:00:00.100Z", body_text=None, status=None), call("2026-12-07T10:00:00.200Z")]
    audit_calls(audit, "L-1", "C", made, [recorded("2026-12-07T10:00:00.300000Z")])  # recorded after both
    assert audit.calls_without_request == 2
    unread, late = audit.calls_without_request_leads
    assert "no body read, status None" in unread and "no request with its body" in unread
    assert "a body of 20 characters, status 200" in late and "the same body recorded at 2026-12-07T10:00:00.3" in late


def test_a_double_retain_names_its_lead_its_calls_and_its_chain():
    """Two retains, the first's answer on record: a double retain, with what the next look starts from."""
    first = Entry(
        seq=1,
        at="2026-12-07T10:00:00.050000Z",
        prev="",
        calls=[{"call_id": "1.1/x", "request": {"body": BODY}}, {"call_id": "1.2/x", "request": {"body": BODY}}],
        exchanges=[{"call_id": "1.1/x", "response": {"status": 200}}],
    )
    made = [call("2026-12-07T10:00:00.100Z"), call("2026-12-07T10:00:01.100Z")]
    for retained in made:
        retained["retained"] = True
    audit = CallAudit()
    audit_calls(audit, "L-1", "C", made, [first])
    assert (audit.double_retains, audit.double_retain_certs) == (1, ["C"])
    [detail] = audit.double_retain_details
    assert (detail["lead"], len(detail["calls"]), detail["chain"][0]["exchanges"]) == ("L-1", 2, [["1.1/x", 200, None]])
