"""A write DynamoDB applied whose answer was lost (a read timeout): botocore sends it again, and the
retry fails its condition on the write itself. The reservation and a refusal must tell that from another
post of the same lead (found by the concurrency suite under load: a refused lead's reuse went uncounted)."""

from __future__ import annotations

from typing import Any

from tf_retainer import wiring

from local.simulator import make_web_cert_id
from tests.support.stack import is_state_put, lead


def lose_the_first_answer(monkeypatch: Any) -> list[int]:
    """The service's next TransactWriteItems that is applied has its answer lost, and is sent again."""
    client = wiring.dynamodb()
    real = client.transact_write_items
    lost: list[int] = []

    def applied_answer_lost_sent_again(**kwargs: Any) -> Any:
        answer = real(**kwargs)  # one that fails was not applied: nothing to lose
        if lost:
            return answer
        lost.append(len(kwargs["TransactItems"]))
        return real(**kwargs)  # applied, its answer lost on the way back: the client's retry

    monkeypatch.setattr(client, "transact_write_items", applied_answer_lost_sent_again)
    return lost


def lose_the_first_state_answer(monkeypatch: Any) -> list[str]:
    """The service's next put of a lead's state (the reservation's) that is applied has its answer lost, and
    is sent again."""
    client = wiring.dynamodb()
    real = client.put_item
    lost: list[str] = []

    def applied_answer_lost_sent_again(**kwargs: Any) -> Any:
        answer = real(**kwargs)
        if lost or not is_state_put(kwargs):
            return answer
        lost.append(kwargs["Item"]["pk"]["S"])
        return real(**kwargs)  # applied, its answer lost on the way back: the client's retry

    monkeypatch.setattr(client, "put_item", applied_answer_lost_sent_again)
    return lost


def test_a_reservation_applied_but_its_answer_lost_is_the_lead_itself_not_a_repeat(stack, monkeypatch):
    assert stack.post(lead()).status == 201  # builds the service's clients
    lost = lose_the_first_state_answer(monkeypatch)
    response = stack.post(lead(lead_id="LOST-1"))
    assert lost, "the reservation's state was not put"
    assert (response.status, response.json()["status"]) == (201, "retained"), response.json()
    assert len(stack.sim.requests) == 2  # this lead's retain was made: it was not taken for a repeat


def test_a_refusal_applied_but_its_answer_lost_is_counted_on_the_certificate(stack, monkeypatch):
    cert_id = make_web_cert_id()
    assert stack.post(lead(cert_id, lead_id="HOLDER")).status == 201
    other = stack.add_vendor("other-vendor")
    assert stack.post(lead(make_web_cert_id()), key=other).status == 201  # builds its clients
    lost = lose_the_first_answer(monkeypatch)  # not the reservation (refused): the refusal's transaction
    refused = stack.post(lead(cert_id, lead_id="REFUSED"), key=other)
    assert (refused.status, refused.json()["reason"]) == (422, "certificate_reused")
    assert lost == [2]  # the refused lead and its first entry
    certificate = stack.reader.read_certificate(cert_id)
    assert certificate is not None and certificate.claim.reuse_attempts == 1
    assert [e.type for e in certificate.history].count("certificate_reused") == 1


def test_a_reuse_count_applied_but_its_answer_lost_is_counted_once(stack, monkeypatch):
    """The count of leads that came with a held certificate: its update applied, the answer lost, sent again
    (found by the concurrency suite under load: 20 reuses counted for 19 refused leads)."""
    cert_id = make_web_cert_id()
    assert stack.post(lead(cert_id, lead_id="HOLDER-2")).status == 201
    other = stack.add_vendor("other-vendor")
    assert stack.post(lead(make_web_cert_id()), key=other).status == 201  # builds its clients
    client = wiring.dynamodb()
    real = client.update_item
    resent: list[str] = []

    def applied_answer_lost_sent_again(**kwargs: Any) -> Any:
        answer = real(**kwargs)
        if resent or "reuse_attempts" not in kwargs["UpdateExpression"]:
            return answer
        resent.append(kwargs["Key"]["pk"]["S"])
        return real(**kwargs)  # the client's retry

    monkeypatch.setattr(client, "update_item", applied_answer_lost_sent_again)
    refused = stack.post(lead(cert_id, lead_id="REFUSED-2"), key=other)
    assert (refused.status, refused.json()["reason"]) == (422, "certificate_reused")
    assert resent, "the reuse was not counted"
    claim = stack.reader.read_certificate(cert_id).claim
    assert (claim.reuse_attempts, claim.reused_by) == (1, [refused.json()["lead_id"]])
