"""Legal hold (`tf-retainer hold`, HoldFunction): a held lead's evidence outlives its retention expiry,
an unheld one does not; a consumer's hold covers every vendor's leads and those that arrive later;
release gives the expiry back; the lead's history says both."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from tf_retainer.domain.contacts import lead_fingerprints
from tf_retainer.evidence import legal_hold as holds
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.legal_holds import HoldStore

from local.functions import invoke
from tests.support.cli import assert_no_secrets, run, run_json
from tests.support.stack import lead

OTHER_VENDOR = "other-vendor"
PHONE = "(512) 555-1212"
RETENTION_SECONDS = 1825 * 86400


def ttl_sweep(stack, *, at: float) -> int:
    """What DynamoDB's TTL does: delete every item whose ttl is before ``at``. Returns how many."""
    doomed = [item for item in stack.all_items() if "ttl" in item and item["ttl"] < at]
    for item in doomed:
        stack.dynamodb.delete_item(
            TableName=stack.provisioned.table_name, Key=serialize(keys.key(item["pk"], item["sk"]))
        )
    return len(doomed)


def items_of(stack, posted: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item of a lead: its partition and its certificate's (a vendor's lead id names the lead: no item)."""
    table = stack.provisioned.table_name
    found = []
    for pk in (keys.lead_pk(posted["lead_id"]), keys.cert_pk(posted["cert_id"])):
        out = stack.dynamodb.query(
            TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues=serialize({":pk": pk})
        )
        found += [deserialize(item) for item in out["Items"]]
    return found


def history_types(stack, lead_id: str) -> list[str]:
    record = stack.reader.read_lead(lead_id)
    return [event.type for event in record.history]


def test_a_held_lead_survives_its_expiry_and_an_unheld_one_does_not(stack):
    held = stack.post(lead(lead_id="H-1")).json()
    unheld = stack.post(lead(lead_id="U-1")).json()
    code, out, err = run(stack, "hold", "set", "--lead", held["lead_id"], "--reason", "Smith v. Acme, 26-cv-0101")
    assert code == 0, err
    assert held["lead_id"] in out and unheld["lead_id"] not in out
    held_items = items_of(stack, held)
    # Its partition and its certificate's (claim + history): no expiry left.
    assert {item["pk"] for item in held_items} == {keys.lead_pk(held["lead_id"]), keys.cert_pk(held["cert_id"])}
    assert all("ttl" not in item and "held_ttl" in item for item in held_items)

    after_retention = time.time() + RETENTION_SECONDS + 86400
    assert ttl_sweep(stack, at=after_retention) > 0
    assert items_of(stack, unheld) == []
    assert {(i["pk"], i["sk"]) for i in items_of(stack, held)} == {(i["pk"], i["sk"]) for i in held_items}
    assert history_types(stack, held["lead_id"])[-1] == "hold_set"
    # The vendor's own view of its lead says nothing of the hold (its reason names a case).
    assert [e["event"] for e in stack.get(held["lead_id"]).json()["history"]] == ["received", "attempt", "retained"]
    # The evidence is still whole, and the hold bookkeeping is not part of it.
    code, out, err = run(stack, "evidence", held["lead_id"], "-o", "-", "--unsigned")
    assert code == 0, err
    assert "held_ttl" not in out and '"holds"' not in out


def test_a_consumer_hold_covers_every_vendors_leads_and_later_ones_until_released(stack):
    other_key = stack.add_vendor(OTHER_VENDOR)
    first = stack.post(lead(phone=PHONE, email="a@one.example")).json()
    second = stack.post(lead(phone="512-555-1212", email="b@two.example"), key=other_key).json()
    stranger = stack.post(lead(phone="(212) 555-9999", email="c@three.example")).json()
    original_ttl = {(i["pk"], i["sk"]): i["ttl"] for i in items_of(stack, first)}

    code, out, err = run(stack, "hold", "set", "--phone", PHONE, "--reason", "demand letter 2026-11 Smith")
    assert code == 0, err
    assert_no_secrets(stack, out, err)
    assert PHONE not in str(stack.all_items())  # only its fingerprint is stored
    (listed,) = run_json(stack, "hold", "list")
    hold_id = listed["hold_id"]
    token = stack.index.consumer_token("phone", lead_fingerprints(None, PHONE)["phone"])
    assert (listed["scope"], listed["value"], listed["leads"], listed["tokens"]) == ("phone", token, 2, True)
    assert listed["reason"] == "demand letter 2026-11 Smith" and listed["set_by"] and listed["set_at"]

    later = stack.post(lead(phone=PHONE, email="d@four.example")).json()
    assert all("ttl" in item for item in items_of(stack, later))  # not held until the apply step runs
    # A run out of time stops before the next lead and leaves it (and its look) to the next run.
    store = HoldStore(stack.provisioned.table_name, client=stack.dynamodb)
    (short,) = holds.apply_active_holds(stack.leads, store, now=datetime.now(UTC), time_left=lambda: 1.0)
    assert (short.complete, short.covered) == (False, [])
    assert invoke("HoldFunction", {"source": "aws.scheduler", "detail": {}})["covered"] == [later["lead_id"]]
    for posted in (first, second, later):
        assert all("ttl" not in item for item in items_of(stack, posted)), posted["lead_id"]
        assert "hold_set" in history_types(stack, posted["lead_id"])
    assert all("ttl" in item for item in items_of(stack, stranger))
    assert run_json(stack, "hold", "list")[0]["leads"] == 3

    # A second hold on one of the leads: released first, the lead stays held by the other.
    run(stack, "hold", "set", "--lead", first["lead_id"], "--reason", "matter 77")
    lead_hold = next(h["hold_id"] for h in run_json(stack, "hold", "list") if h["scope"] == "lead")
    # One item's original expiry passed during the hold: it gets the grace period instead.
    past_key = serialize(keys.key(keys.lead_pk(later["lead_id"]), keys.STATE))
    stack.dynamodb.update_item(
        TableName=stack.provisioned.table_name,
        Key=past_key,
        UpdateExpression="SET held_ttl = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )

    releasing = time.time()
    code, out, err = run(stack, "hold", "release", hold_id, "--reason", "settled")
    released = time.time()
    assert code == 0, err
    assert "3 lead(s)" in out
    assert [h["hold_id"] for h in run_json(stack, "hold", "list")] == [lead_hold]
    assert all("ttl" not in item for item in items_of(stack, first))  # still under the lead hold
    restored = {(i["pk"], i["sk"]): i.get("ttl") for i in items_of(stack, second)}
    assert all(restored.values()) and not any("held_ttl" in i or "holds" in i for i in items_of(stack, second))
    later_state = next(i for i in items_of(stack, later) if i["sk"] == keys.STATE)
    assert releasing + 30 * 86400 - 1 <= later_state["ttl"] <= released + 30 * 86400  # 30 days from the release
    assert history_types(stack, second["lead_id"])[-2:] == ["hold_set", "hold_released"]

    assert run(stack, "hold", "release", lead_hold)[0] == 0
    now_ttl = {(i["pk"], i["sk"]): i.get("ttl") for i in items_of(stack, first)}
    assert {key: now_ttl[key] for key in original_ttl} == original_ttl  # the original expiry, exactly
    assert run(stack, "hold", "release", "no-such-hold")[0] == 1


def test_a_hold_needs_a_reason_and_one_scope(stack):
    assert run(stack, "hold", "set", "--vendor", "acme-leads")[0] == 2
    assert run(stack, "hold", "set", "--vendor", "acme-leads", "--lead", "x", "--reason", "r")[0] == 2
    assert run(stack, "hold", "set", "--phone-sha1", "not-hex", "--reason", "r")[0] == 2
    assert run(stack, "hold", "set", "--lead", "no-such-lead", "--reason", "r")[0] == 1
    assert run_json(stack, "hold", "list") == []


class Killed(BaseException):
    """The process running the hold died here (a BaseException: nothing in the store catches it)."""


class DiesAtFirstUpdate:
    """A DynamoDB client whose process dies when it sends its first UpdateItem."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        if name == "update_item":
            raise Killed
        return getattr(self._client, name)


def test_a_hold_run_dying_after_it_recorded_a_member_leaves_that_member_counted(stack):
    """The member and the hold's count are one write: a run that died right after recording the member
    (before counting it, when they were two writes) left the hold counting one lead too few for good."""
    email = "dies-mid-run@example.com"
    posted = stack.post(lead(email=email)).json()
    store = HoldStore(stack.provisioned.table_name, client=stack.dynamodb)
    now = datetime.now(UTC)
    fingerprints = [lead_fingerprints(email, None)["email"]]
    hold = holds.consumer_hold(
        stack.index, kind="email", fingerprints=fingerprints, reason="matter 12", actor="ops", now=now
    )
    store.put_hold(hold)
    dying = HoldStore(stack.provisioned.table_name, client=DiesAtFirstUpdate(stack.dynamodb))
    with contextlib.suppress(Killed):
        holds.apply_hold(stack.leads, dying, hold, now=now)

    holds.apply_hold(stack.leads, store, store.get_hold(hold.hold_id), now=now)  # the next run

    assert [member.lead_id for member in store.members(hold.hold_id)] == [posted["lead_id"]]
    assert store.get_hold(hold.hold_id).leads == 1
    assert all("ttl" not in item for item in items_of(stack, posted))


def test_a_hold_by_phone_covers_every_spelling_find_searches_and_says_which(stack):
    """A demand letter spells the number its own way: the hold covers the leads `evidence find` finds for
    it, posted under any usual spelling, now and later, and says how many under which (issue 26)."""
    import json

    other_key = stack.add_vendor(OTHER_VENDOR)
    national = stack.post(lead(phone="5125551234", email="a@one.example")).json()["lead_id"]
    with_one = stack.post(lead(phone="1-512-555-1234", email="b@two.example"), key=other_key).json()["lead_id"]
    stranger = stack.post(lead(phone="(512) 555-9999", email="c@three.example")).json()["lead_id"]
    letter = "+1 512-555-1234"
    found = run_json(stack, "evidence", "find", "--phone", letter)
    assert {match["lead_id"] for match in found["leads"]} == {national, with_one}

    code, out, err = run(stack, "--json", "hold", "set", "--phone", letter, "--reason", "demand 2026-12 Doe")
    assert code == 0, err
    data = json.loads(out)
    assert sorted(data["leads"]) == sorted([national, with_one])
    assert {(s["spelling"], s["leads"]) for s in data["spellings"]} == {
        ("+1 and 10 digits (as given)", 0),
        ("10 digits", 1),
        ("1 and 10 digits", 1),
    }
    assert {s["fingerprint"] for s in data["spellings"]} == {
        found["query"]["phone"],
        *found["other_spellings"]["phone"],
    }
    code, out, err = run(stack, "hold", "set", "--phone", "(512) 555-1234", "--reason", "the same, as counsel wrote it")
    assert code == 0, err
    assert "2 lead(s) held" in out and "under 10 digits (as given): 1 lead(s)" in out
    assert_no_secrets(stack, out, err)
    for spelt in ("5125551234", "512-555-1234", "+15125551234"):
        assert spelt not in out + err and spelt not in str(stack.all_items())

    # A lead that arrives later under yet another spelling is held by the daily run.
    later = stack.post(lead(phone="+1 (512) 555-1234", email="d@four.example")).json()["lead_id"]
    covered = invoke("HoldFunction", {"source": "aws.scheduler", "detail": {}})["covered"]
    assert covered == [later, later]  # by both holds
    assert "hold_set" in history_types(stack, later) and "hold_set" not in history_types(stack, stranger)


def test_a_consumer_hold_stores_no_fingerprint_only_keyed_tokens(stack):
    """A phone's SHA-1 fingerprint is reversible by brute force in hours: the hold's item, its members and
    the hold_set entries it writes keep the consumer index's keyed tokens of each spelling instead. The
    fingerprints stay only where they were (the raw exchanges TrustedForm was sent)."""
    posted = stack.post(lead(phone=PHONE, email="held@one.example")).json()
    fingerprints = [lead_fingerprints(None, spelt)["phone"] for spelt in ("5125551212", "15125551212", "+15125551212")]

    def stored_fingerprints() -> int:
        text = str(stack.all_items())
        return sum(text.count(fingerprint) for fingerprint in fingerprints)

    before = stored_fingerprints()
    code, _, err = run(stack, "hold", "set", "--phone", PHONE, "--reason", "matter 7")
    assert code == 0, err
    assert stored_fingerprints() == before, "the hold stored a reversible fingerprint"
    (listed,) = run_json(stack, "hold", "list")
    tokens = [stack.index.consumer_token("phone", fingerprint) for fingerprint in fingerprints]
    assert [listed["value"], *listed["also"]] == tokens and listed["leads"] == 1
    history = [event for event in stack.reader.read_lead(posted["lead_id"]).history if event.type == "hold_set"]
    assert [event.detail["value"] for event in history] == [tokens[0]]


def test_a_consumer_hold_set_before_tokens_still_covers_the_consumers_new_leads(stack):
    """A hold stored with the fingerprints themselves (before holds kept tokens) is still applied by the
    daily run: a lead that arrives later is held."""
    from tf_retainer.ports.evidence import Hold

    store = HoldStore(stack.provisioned.table_name, client=stack.dynamodb)
    fingerprint = lead_fingerprints(None, PHONE)["phone"]
    now = datetime.now(UTC)
    old = Hold(hold_id="old-hold", scope="phone", value=fingerprint, reason="r", set_by="ops", set_at=now.isoformat())
    store.put_hold(old)
    later = stack.post(lead(phone=PHONE)).json()
    report = holds.apply_hold(stack.leads, store, store.get_hold("old-hold"), now=now)
    assert report.covered == [later["lead_id"]]
