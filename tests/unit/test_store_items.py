"""The lead store's items and write requests, built without DynamoDB: what is stored, changed and removed."""

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer
from tf_retainer.domain import chain
from tf_retainer.domain.keyring import Keyring
from tf_retainer.domain.lead import Claim, Lead
from tf_retainer.domain.models import LeadMatch, Status
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.items import ItemBuilder, history_item, snapshot
from tf_retainer.store.lead_item import LeadCodec, unpack

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CERT_ID = "eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947"
_raw = TypeDeserializer()


def raw(attributes: dict) -> dict:
    """DynamoDB attribute values as boto3 gives them back (numbers as Decimal, before our codec)."""
    return {k: _raw.deserialize(v) for k, v in attributes.items()}


KEYRING = Keyring(lambda: b"a unit test's consumer key, 32+ bytes")
CODEC = LeadCodec(KEYRING)


def builder() -> ItemBuilder:
    return ItemBuilder("leads", retention=timedelta(days=30), codec=CODEC)


def a_lead(**changes) -> Lead:
    base = Lead(
        lead_id="L1",
        vendor="acme",
        vendor_lead_id="V-1",
        status=Status.RECEIVED,
        cert_id=CERT_ID,
        cert_kind="web",
        certificate_url=f"https://cert.trustedform.com/{CERT_ID}",
        received_at="2026-11-22T12:00:00.000000Z",
        deadline="2026-11-25T11:00:00.000000Z",
        match_lead={"email": "f" * 40},
        check_after="2026-11-22T12:02:00.000000Z",
        lead={"zip": "90210", "score": 0.75, "age": 42, "opted_in": True},
    )
    return base.model_copy(update=changes)


# --- codec ---------------------------------------------------------------------------------


def test_codec_round_trip_keeps_values_and_types():
    item = {"s": "text", "i": 42, "f": 0.1, "neg": -2.5, "b": False, "nested": {"x": 1.25, "y": [1, 2.5, "z"]}}
    assert deserialize(serialize(item)) == item
    back = deserialize(serialize(item))
    assert type(back["i"]) is int
    assert type(back["f"]) is float


def test_floats_are_stored_as_exact_decimals():
    stored = serialize({"f": 0.1, "nested": {"g": 1.5}})
    assert stored["f"] == {"N": "0.1"}  # not 0.1000000000000000055511151231257827
    assert raw(stored)["nested"]["g"] == Decimal("1.5")


def test_none_is_left_out_at_every_level():
    stored = serialize({"a": None, "b": 1, "nested": {"c": None, "d": "x"}})
    assert set(stored) == {"b", "nested"}
    assert deserialize(stored) == {"b": 1, "nested": {"d": "x"}}


def test_big_integers_stay_exact():
    assert deserialize(serialize({"n": 2**62 + 1}))["n"] == 2**62 + 1


# --- keys ----------------------------------------------------------------------------------


def test_key_layout():
    assert keys.lead_pk("L1") == "LEAD#L1"
    assert keys.cert_pk(CERT_ID) == f"CERT#{CERT_ID}"
    assert keys.vendor_index_pk("acme") == "VENDOR#acme"
    assert keys.vendor_index_sk("2026-11-22T12:00:00.000000Z", "L1") == "2026-11-22T12:00:00.000000Z#L1"
    assert keys.vendor_key_pk("abc") == "VENDORKEY#abc"
    assert keys.key("P", "S") == {"pk": "P", "sk": "S"}


def test_vendor_keys_are_identified_by_sha256_never_stored():
    digest = keys.key_hash("vendor-secret")
    assert digest == hashlib.sha256(b"vendor-secret").hexdigest()
    assert "vendor-secret" not in keys.vendor_key_pk(digest)


def test_entry_sort_keys_sort_in_chain_order():
    entry_keys = [keys.entry_sk(n) for n in (1, 2, 10, 100, 999_999)]
    assert sorted(entry_keys) == entry_keys
    assert keys.entry_sk(7) == "ENTRY#000007" and keys.entry_seq("ENTRY#000007") == 7


def test_item_kinds_are_told_apart_by_sort_key():
    state, claim = {"sk": keys.STATE}, {"sk": keys.CLAIM}
    event, entry = {"sk": keys.event_sk("t", 0, "w")}, {"sk": keys.entry_sk(1)}
    assert [keys.is_state(i) for i in (state, claim, event, entry)] == [True, False, False, False]
    assert [keys.is_claim(i) for i in (state, claim, event, entry)] == [False, True, False, False]
    assert [keys.is_event(i) for i in (state, claim, event, entry)] == [False, False, True, False]
    assert [keys.is_entry(i) for i in (state, claim, event, entry)] == [False, False, False, True]


def test_bookkeeping_is_not_evidence():
    item = {"pk": "P", "sk": "S", "gsi1pk": "G", "gsi1sk": "H", "ttl": 1, "status": "retained", "attempt": 1}
    assert keys.without_bookkeeping(item) == {"status": "retained", "attempt": 1}


# --- new lead: Lead -> item -> Lead ----------------------------------------------------------

EMAIL_SHA1, PHONE_SHA1 = "e" * 40, "a" * 40


def state_item(lead: Lead) -> dict:
    return deserialize(builder().new_lead(lead, ttl=123)["Put"]["Item"])


def test_new_lead_round_trips_through_the_item():
    lead = a_lead(lead_match=LeadMatch(email_match=True, success=True), masked=False, payload_hash="p" * 64)
    put = builder().new_lead(lead, ttl=123)["Put"]
    assert put["TableName"] == "leads"
    assert put["ConditionExpression"] == "attribute_not_exists(pk)"  # never overwrites a lead
    assert put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"  # a vendor's lead id again: the first lead
    item = deserialize(put["Item"])
    assert CODEC.lead(item, with_match=True) == lead
    assert CODEC.lead(item).match_lead == {}  # unsealed only for whoever asks (and holds the key)
    assert CODEC.lead(item).lead == {"zip": "90210", "score": 0.75, "age": 42, "opted_in": True}


def test_new_lead_item_carries_keys_vendor_index_and_ttl():
    lead = a_lead()
    item = state_item(lead)
    assert (item["pk"], item["sk"]) == ("LEAD#L1", "STATE")
    assert item["gsi1pk"] == "VENDOR#acme"
    assert item["gsi1sk"] == f"{lead.received_at}#L1"
    assert item["ttl"] == 123
    # what conditions read is an attribute of its own; the rest is packed
    assert (item["status"], item["attempts"], item["applied"]) == ("received", 0, 0)
    assert set(item) <= {
        *keys.BOOKKEEPING,
        "status",
        "attempts",
        "applied",
        "check_after",
        "lease_until",
        "head",
        "m",
        "s",
    }


def test_no_contact_fingerprint_is_stored_readable():
    """Issue 26: an unkeyed SHA-1 of a phone number is reversed in seconds: the state and its index keys hold
    only keyed tokens and sealed bytes."""
    item = state_item(a_lead(match_lead={"email": EMAIL_SHA1, "phone": PHONE_SHA1}))
    stored = repr(item) + bytes(item["s"]).hex() + "".join(bytes(v).hex() for v in item["m"].values())
    assert EMAIL_SHA1 not in stored and PHONE_SHA1 not in stored
    assert item["gsi3pk"] == "EMAIL#" + KEYRING.consumer("email", EMAIL_SHA1)
    assert item["gsi4pk"] == "PHONE#" + KEYRING.consumer("phone", PHONE_SHA1)
    other = LeadCodec(Keyring(lambda: b"another deployment's consumer key")).consumer_index_keys(
        a_lead(match_lead={"email": EMAIL_SHA1})
    )
    assert other["gsi3pk"] != item["gsi3pk"]  # keyed: without the key, no one can compute an index key


def test_new_lead_is_in_the_consumer_index_of_each_fingerprint_it_carries():
    phone_only = state_item(a_lead(match_lead={"phone": PHONE_SHA1}))
    assert "gsi3pk" not in phone_only and phone_only["gsi4pk"].startswith("PHONE#")  # sparse: no empty key
    assert "gsi3pk" not in keys.without_bookkeeping(phone_only) and "gsi4pk" not in keys.without_bookkeeping(phone_only)


def test_lead_update_never_touches_the_consumer_index_or_the_sealed_match():
    # Each later write of the lead then costs the KEYS_ONLY indexes nothing.
    before = a_lead(match_lead={"email": EMAIL_SHA1, "phone": PHONE_SHA1})
    update = builder().lead_update(before, before.model_copy(update={"status": Status.RETAINED}))
    names = update["ExpressionAttributeNames"].values()
    assert not {"gsi3pk", "gsi4pk", "m"} & set(names)


def test_a_states_consumer_tokens_are_its_index_keys_and_a_bare_fingerprint_there_is_tokenized():
    """What the call gate asks the revocation ledger with: the tokens the lead is indexed under, read without
    unsealing; an item indexed before the keys were tokens (EMAIL#<sha1>) gives the token of that fingerprint,
    so a revocation keyed by tokens still reaches it."""
    item = state_item(a_lead(match_lead={"email": EMAIL_SHA1, "phone": PHONE_SHA1}))
    tokens = {"email": KEYRING.consumer("email", EMAIL_SHA1), "phone": KEYRING.consumer("phone", PHONE_SHA1)}
    assert CODEC.consumer_tokens(item) == tokens
    legacy = {**item, "gsi3pk": f"EMAIL#{EMAIL_SHA1}"}
    assert CODEC.consumer_tokens(legacy) == tokens
    assert CODEC.consumer_tokens(state_item(a_lead(match_lead={}))) == {}


def test_backfill_puts_an_existing_lead_into_the_consumer_index_only_if_it_still_exists():
    request = builder().contact_index(a_lead(match_lead={"email": EMAIL_SHA1, "phone": PHONE_SHA1}))
    assert request is not None
    assert request["ConditionExpression"] == "attribute_exists(pk)"  # an update would create an expired lead
    assert request["Key"] == serialize({"pk": "LEAD#L1", "sk": "STATE"})
    assert deserialize(request["ExpressionAttributeValues"]) == {
        ":gsi3pk": "EMAIL#" + KEYRING.consumer("email", EMAIL_SHA1),
        ":gsi4pk": "PHONE#" + KEYRING.consumer("phone", PHONE_SHA1),
    }
    assert builder().contact_index(a_lead(match_lead={})) is None


def test_a_state_stored_before_the_packed_layout_is_still_read():
    lead = a_lead()
    assert CODEC.lead({**lead.model_dump(mode="json", exclude_none=True), "pk": "LEAD#L1", "sk": "STATE"}) == (
        lead.model_copy(update={"match_lead": {}})
    )


def test_ttl_is_the_retention_after_now():
    assert builder().ttl(NOW) == int((NOW + timedelta(days=30)).timestamp())


# --- lead_update(before, after) --------------------------------------------------------------


def update_of(before: Lead, after: Lead) -> tuple[dict, dict, list[str]]:
    """The update request, what it SETs (attribute -> value) and which attributes it REMOVEs."""
    update = builder().lead_update(before, after)
    names = update["ExpressionAttributeNames"]
    values = deserialize(update["ExpressionAttributeValues"])
    set_part, _, remove_part = update["UpdateExpression"].rpartition("REMOVE ")
    sets = {}
    if set_part.strip():
        for assignment in set_part.strip().removeprefix("SET ").split(", "):
            name, value = assignment.split(" = ")
            sets[names[name]] = values[value]
    removes = [names.get(name, name) for name in remove_part.split(", ")]
    return update, sets, removes


def test_update_sets_the_changed_attributes_and_the_packed_lead():
    before = a_lead(lease_until="2026-11-22T12:01:00.000000Z")
    after = before.model_copy(
        update={
            "status": Status.RETAINED,
            "attempts": 1,
            "burned_attempts": 1,
            "retained": True,
            "expires_at": "2026-12-22T00:00:00Z",
            "lead_match": LeadMatch(email_match=True, success=True),
            "final_at": "2026-11-22T12:00:01.000000Z",
            "applied": 2,
            "head": "ab" * 32,
        }
    )
    update, sets, removes = update_of(before, after)
    assert set(sets) == {"status", "attempts", "applied", "head", "s"}
    assert (sets["status"], sets["attempts"], sets["applied"], bytes(sets["head"])) == (
        "retained",
        1,
        2,
        bytes.fromhex("ab" * 32),
    )
    packed = unpack(bytes(sets["s"]))
    assert (packed["retained"], packed["expires_at"], packed["final_at"]) == (
        True,
        "2026-12-22T00:00:00Z",
        after.final_at,
    )
    assert sorted(removes) == ["gsi2pk", "gsi2sk", "lease_until"]  # final: it leaves the open index
    assert deserialize(update["Key"]) == {"pk": "LEAD#L1", "sk": "STATE"}


def test_update_removes_values_that_are_no_longer_true():
    before = a_lead(status=Status.PENDING, attempts=1, check_after="2026-11-22T12:01:00.000000Z")
    after = before.model_copy(update={"status": Status.RETAINED, "check_after": None, "attempts": 2})
    _, sets, removes = update_of(before, after)
    assert set(sets) == {"status", "attempts"}  # nothing packed changed: the packed lead is not rewritten
    assert sorted(removes) == ["check_after", "gsi2pk", "gsi2sk", "lease_until"]


def test_update_always_releases_the_lease_even_when_nothing_else_changed():
    before = a_lead(lease_until="2026-11-22T12:01:00.000000Z")
    update, sets, removes = update_of(before, before.model_copy(update={"lease_until": None}))
    assert sets == {}
    assert update["UpdateExpression"] == "REMOVE lease_until"
    assert removes == ["lease_until"]


def test_update_never_sets_a_lease():
    before = a_lead()
    _, sets, _ = update_of(before, before.model_copy(update={"lease_until": "2030-01-01T00:00:00Z", "attempts": 1}))
    assert "lease_until" not in sets


@pytest.mark.parametrize("attempts", [0, 3])
def test_update_is_conditional_on_the_lead_being_open_at_the_attempts_and_entry_we_read(attempts):
    before = a_lead(attempts=attempts, status=Status.PENDING, applied=attempts)
    update = builder().lead_update(before, before.model_copy(update={"attempts": attempts + 1, "applied": 9}))
    assert update["ConditionExpression"] == (
        "attempts = :expected AND applied = :applied AND #st IN (:received, :pending)"
    )
    assert update["ExpressionAttributeNames"]["#st"] == "status"
    values = deserialize(update["ExpressionAttributeValues"])
    assert (values[":expected"], values[":applied"]) == (attempts, attempts)
    assert (values[":received"], values[":pending"]) == ("received", "pending")


# --- chain entries and claims ----------------------------------------------------------------


def an_entry(**changes) -> chain.Entry:
    base = chain.Entry(
        seq=1,
        at="2026-11-22T12:00:01.000000Z",
        prev="0" * 64,
        events=[{"type": "retained", "actor": "intake", "detail": {"reason": None}}],
        exchanges=[{"attempt": 1, "request": {"body": '{"retain":{}}'}, "response": {"status": 200, "body": "{}"}}],
        state=snapshot(a_lead(status=Status.RETAINED, lease_until="2026-11-22T12:01:00Z", applied=1)),
    )
    return chain.Entry(
        **{**{f: getattr(base, f) for f in ("seq", "at", "prev", "events", "exchanges", "state")}, **changes}
    )


def test_an_entry_is_put_once_compressed_with_the_hash_of_its_exact_content():
    entry = an_entry()
    put = builder().entry("L1", entry, NOW, outcome="retained")["Put"]
    assert put["ConditionExpression"] == "attribute_not_exists(pk)"  # never overwritten
    item = deserialize(put["Item"])
    assert (item["pk"], item["sk"], item["o"]) == ("LEAD#L1", "ENTRY#000001", "retained")
    content = chain.unpack(bytes(item["b"]))
    assert content == entry.content() and bytes(item["h"]) == hashlib.sha256(content).digest()
    assert len(bytes(item["b"])) < len(content)


def test_an_entrys_snapshot_leaves_out_the_lease_its_own_number_and_the_fingerprints():
    state = an_entry().state
    assert state["status"] == "retained" and "lease_until" not in state and "applied" not in state
    # the SHA-1 fingerprints stay in the chain only inside the raw exchanges that sent them
    assert "match_lead" not in state and "head" not in state


def test_a_claim_is_taken_only_if_free_or_from_the_released_holder_named():
    claim = Claim(lead_id="L2", vendor="acme")
    fresh = builder().claim(CERT_ID, claim, 1)["Put"]
    assert fresh["ConditionExpression"] == "attribute_not_exists(pk)"
    takeover = builder().claim(CERT_ID, claim, 1, released_by="L1")["Put"]
    assert takeover["ConditionExpression"] == "lead_id = :holder"
    assert deserialize(takeover["ExpressionAttributeValues"]) == {":holder": "L1"}
    assert takeover["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"


def test_a_reuse_names_the_lead_only_while_the_list_is_short():
    listed = builder().reuse_attempt(CERT_ID, "L9", NOW, listed=True)
    assert "list_append" in listed["UpdateExpression"] and "size(reused_by) < :cap" in listed["ConditionExpression"]
    counted = builder().reuse_attempt(CERT_ID, "L9", NOW, listed=False)
    assert "reused_by" not in counted["UpdateExpression"]
    assert counted["ConditionExpression"] == "attribute_exists(pk)"  # never re-creates a claim that expired


def test_a_history_item_takes_the_entrys_time_unless_the_event_has_its_own():
    entry = an_entry(events=[{"type": "received", "at": "2026-11-22T11:59:59Z"}, {"type": "attempt"}])
    items = [history_item(event, entry, "L1", CERT_ID) for event in entry.events]
    assert [(i.type, i.at) for i in items] == [
        ("received", "2026-11-22T11:59:59Z"),
        ("attempt", "2026-11-22T12:00:01.000000Z"),
    ]
    assert items[0].detail == {} and items[0].lead_id == "L1"
