"""The evidence anchors (issue 26, item 2): the anchor document's format and its MAC message, what a stream
record of a chain entry anchors, the anchoring of a batch, and the comparison `evidence verify` makes of a
chain with what was anchored when it was written."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from tf_retainer.domain import anchors, chain
from tf_retainer.domain.anchors import AnchorCheck, Anchored, ChainLink, Written
from tf_retainer.evidence.anchoring import Anchorer, check_chain
from tf_retainer.ports.anchors import StoredAnchor
from tf_retainer.store.stream import written_in

from tests.support.fakes import FakeAnchorStore, FakeMac

NOW = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
HOUR = "2026-12-07T07"
LAG = timedelta(hours=1)


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat()


# --- the document ------------------------------------------------------------------------------------


def test_a_document_is_canonical_sorted_and_each_record_once():
    records = [Anchored("b", 1, "bb"), Anchored("a", 2, "a2"), Anchored("a", 1, "a1"), Anchored("a", 1, "a1")]
    content = anchors.document(HOUR, records)
    assert content == (
        b'{"entries":[["a",1,"a1","new"],["a",2,"a2","new"],["b",1,"bb","new"]],"hour":"2026-12-07T07","v":1}'
    )
    assert anchors.document(HOUR, list(reversed(records))) == content  # a retried batch: the same bytes
    assert anchors.parse_document(content) == (HOUR, sorted(set(records)))


@pytest.mark.parametrize(
    "content",
    [
        b'{"entries": [["a",1,"a1","new"]], "hour": "2026-12-07T07", "v": 1}',  # not canonical
        b'{"entries":[["a",1,"a1","new"]],"hour":"2026-12-07T07","v":2}',  # another format
        b'{"entries":[["a","1","a1","new"]],"hour":"2026-12-07T07","v":1}',  # a number as text
        b'{"entries":[["a",true,"a1","new"]],"hour":"2026-12-07T07","v":1}',  # a boolean is no entry number
        b'{"entries":[["a",1,"a1","edited"]],"hour":"2026-12-07T07","v":1}',  # an unknown kind
        b'{"entries":[["a",1,"a1"]],"hour":"2026-12-07T07","v":1}',  # a row short of a field
        b'{"entries":[],"hour":"yesterday","v":1}',  # not an hour
        b"not json",
    ],
)
def test_anything_else_is_not_an_anchor_document(content):
    with pytest.raises(anchors.BadAnchor):
        anchors.parse_document(content)


def test_the_mac_covers_the_whole_document_in_one_short_message():
    content = anchors.document(HOUR, [Anchored(f"lead-{n}", 1, "ab" * 32) for n in range(10_000)])
    message = anchors.mac_message(content)
    assert message.startswith(anchors.MAC_PURPOSE) and len(message) < 4096  # GenerateMac's limit
    edited = content.replace(b'"ab', b'"ac', 1)
    assert anchors.mac_message(edited) != message


def test_an_hour_is_the_utc_hour_of_the_time_an_entry_names():
    assert anchors.hour_of("2026-12-07T07:59:59.999999Z") == "2026-12-07T07"
    assert anchors.hour_of("2026-12-07T09:15:00+02:00") == "2026-12-07T07"
    assert anchors.next_hour("2026-12-31T23") == "2027-01-01T00"


# --- what a stream record anchors ---------------------------------------------------------------------


def stream_record(event: str, *, seq: int = 3, content: bytes | None = None, sk: str | None = None) -> dict:
    entry = chain.Entry(seq=seq, at="2026-12-07T06:59:59.500000Z", prev="00" * 32)
    content = entry.content() if content is None else content
    image = {
        "pk": {"S": "LEAD#lead-1"},
        "sk": {"S": sk or f"ENTRY#{seq:06d}"},
        "b": {"B": base64.b64encode(chain.pack(content)).decode()},
        "h": {"B": base64.b64encode(hashlib.sha256(content).digest()).decode()},
    }
    created = int(datetime(2026, 12, 7, 8, 0, 3, tzinfo=UTC).timestamp())
    return {"eventName": event, "dynamodb": {"NewImage": image, "ApproximateCreationDateTime": created}}


def test_a_stream_record_of_an_entry_anchors_its_number_hash_and_hour():
    record = stream_record("INSERT")
    content = chain.Entry(seq=3, at="2026-12-07T06:59:59.500000Z", prev="00" * 32).content()
    written = written_in(record)
    assert written == Written(Anchored("lead-1", 3, hashlib.sha256(content).hexdigest(), "new"), "2026-12-07T06")
    overwritten = written_in(stream_record("MODIFY"))
    assert overwritten is not None and overwritten.anchored.kind == "overwrite"


def test_whatever_an_entry_item_holds_is_anchored_and_other_records_are_not():
    garbage = written_in(stream_record("MODIFY", content=b"not an entry"))
    # Its hash as stored, under the hour the stream says it was written.
    assert garbage is not None and garbage.hour == "2026-12-07T08"
    assert garbage.anchored.hash == hashlib.sha256(b"not an entry").hexdigest()
    assert written_in(stream_record("REMOVE")) is None
    assert written_in(stream_record("INSERT", sk="STATE")) is None


# --- anchoring a batch --------------------------------------------------------------------------------


def test_a_batch_is_one_document_and_one_mac_per_hour_and_a_retry_writes_nothing_new():
    store, mac = FakeAnchorStore(), FakeMac()
    anchorer = Anchorer(store, mac)
    batch = [Written(Anchored("a", n, f"{n:064x}"), HOUR) for n in range(1, 101)]
    batch.append(Written(Anchored("b", 1, "ff" * 32), "2026-12-07T08"))
    names = anchorer.anchor(batch, NOW)
    assert len(names) == 2 and mac.generated == 3  # the two hours, and the record of when anchoring began
    started = store.started()
    assert started is not None and anchors.parse_started(started.content) == NOW
    assert anchorer.anchor(list(reversed(batch)), NOW + timedelta(minutes=5)) == names
    assert sum(len(documents) for documents in store.hours.values()) == 2
    assert store.started() == started  # the first record stays
    assert anchorer.anchor([], NOW) == []


# --- a chain against its anchors ----------------------------------------------------------------------


def links(*hashes: str, minutes_ago: float = 90) -> list[ChainLink]:
    return [ChainLink(seq, digest, at(minutes_ago)) for seq, digest in enumerate(hashes, start=1)]


def compare(chain_links: list[ChainLink], found: list[Anchored], *, since: datetime | None = None) -> AnchorCheck:
    return anchors.compare("L", chain_links, found, now=NOW, lag=LAG, since=since or NOW - timedelta(days=1))


def test_a_chain_anchored_as_written_passes():
    check = compare(links("h1", "h2"), [Anchored("L", 1, "h1"), Anchored("L", 2, "h2"), Anchored("X", 3, "zz")])
    assert check.ok and check.anchored == [1, 2]


def test_an_entry_anchored_with_another_hash_is_rewritten():
    check = compare(links("h1", "forged"), [Anchored("L", 1, "h1"), Anchored("L", 2, "h2")])
    assert check.problems == [(2, "entry 2 was anchored with another hash (h2…): rewritten")]


def test_an_entry_seen_only_overwriting_is_named_and_an_expiry_moved_is_not():
    forged = compare(links("h1", "forged"), [Anchored("L", 1, "h1"), Anchored("L", 2, "forged", "overwrite")])
    assert forged.problems == [(2, "entry 2 was written over an existing entry (anchored only as an overwrite)")]
    moved = compare(links("h1"), [Anchored("L", 1, "h1"), Anchored("L", 1, "h1", "overwrite")])
    assert moved.ok  # the archiver or a hold moved its expiry: the same hash


def test_an_anchored_entry_missing_from_the_chain_is_deleted():
    check = compare(links("h1"), [Anchored("L", 1, "h1"), Anchored("L", 2, "h2")])
    assert check.problems == [(2, "entry 2 was anchored but is not in the table: deleted")]


def test_an_entry_not_anchored_is_pending_while_recent_then_a_problem():
    assert compare(links("h1", minutes_ago=10), []).pending == [1]
    old = compare(links("h1", minutes_ago=90), [])
    assert [seq for seq, _ in old.problems] == [1] and "is in no anchor of its hour" in old.problems[0][1]
    before = compare(links("h1", minutes_ago=90), [], since=NOW - timedelta(minutes=30))
    assert before.ok and before.before == [1]
    never = anchors.compare("L", links("h1"), [], now=NOW, lag=LAG, since=None)
    assert never.ok and never.before == [1]
    future = compare([ChainLink(1, "h1", (NOW + timedelta(hours=2)).isoformat())], [])
    assert future.problems == [
        (1, f"entry 1 claims it was written in the future ({(NOW + timedelta(hours=2)).isoformat()})")
    ]


def test_verify_reads_the_hours_of_the_entries_and_the_next_never_a_future_one():
    spread = [ChainLink(1, "h1", "2026-12-07T05:10:00Z"), ChainLink(2, "h2", "2026-12-07T07:05:00Z")]
    assert anchors.hours_to_read(spread, NOW) == ["2026-12-07T05", "2026-12-07T07"]
    earlier = [ChainLink(1, "h1", "2026-12-07T05:10:00Z")]
    assert anchors.hours_to_read(earlier, NOW) == ["2026-12-07T05", "2026-12-07T06"]


def anchored_store(*records: Anchored, hour: str = HOUR) -> tuple[FakeAnchorStore, FakeMac]:
    store, mac = FakeAnchorStore(), FakeMac()
    Anchorer(store, mac).anchor([Written(record, hour) for record in records], NOW - timedelta(days=1))
    return store, mac


def test_check_chain_authenticates_only_the_documents_that_name_the_lead():
    store, mac = anchored_store(Anchored("L", 1, "h1"), Anchored("L", 2, "h2"))
    store.put(HOUR, anchors.document(HOUR, [Anchored("other", 1, "x")]), b"no mac at all")
    verdict = check_chain("L", links("h1", "h2", minutes_ago=40), store, mac, now=NOW)
    assert verdict.check.ok and verdict.check.anchored == [1, 2]
    assert (verdict.documents, verdict.authenticated) == (2, 1)


def test_check_chain_names_a_document_not_made_with_the_deployment_key():
    store, _ = anchored_store(Anchored("L", 1, "h1"))
    verdict = check_chain("L", links("h1", minutes_ago=40), store, FakeMac(b"the deployment's key"), now=NOW)
    assert not verdict.check.ok
    assert "is not authentic" in verdict.check.problems[0][1]


def test_check_chain_names_a_document_filed_under_another_hour():
    store, mac = anchored_store(Anchored("L", 1, "h1"))
    elsewhere = anchors.document("2026-12-07T03", [Anchored("L", 1, "h1")])
    store.hours[HOUR] = {"moved": StoredAnchor("moved", elsewhere, mac.generate(anchors.mac_message(elsewhere)))}
    verdict = check_chain("L", links("h1", minutes_ago=40), store, mac, now=NOW)
    assert verdict.check.problems == [(None, "anchor moved is not authentic (its MAC or its hour is wrong)")]


def test_a_forged_record_of_when_anchoring_began_is_named():
    store, mac = anchored_store(Anchored("L", 1, "h1"))
    later = anchors.started_document(NOW)
    store.first = StoredAnchor("anchors/started.json", later, b"forged")
    verdict = check_chain("L", links("h1", minutes_ago=40), store, mac, now=NOW)
    assert verdict.since is None and "is not authentic" in verdict.check.problems[0][1]


def test_the_summary_is_what_the_cli_prints():
    store, mac = anchored_store(Anchored("L", 1, "h1"))
    summary = check_chain("L", links("h1", "h2", minutes_ago=20), store, mac, now=NOW).summary()
    assert json.loads(json.dumps(summary)) == {
        "ok": True,
        "anchoring_since": (NOW - timedelta(days=1)).isoformat(),
        "anchored": [1],
        "not_anchored_yet": [2],
        "before_anchoring": [],
        "problems": [],
        "hours_read": [HOUR],
        "documents_read": 1,
    }


@pytest.mark.parametrize(
    "content",
    [
        b'{"seq":3,"at":12,"prev":"","v":1}',  # a time that is no text
        b'{"seq":3,"at":"9999-99-99","prev":"","v":1}',  # no date
        b"[" * 100_000 + b"]" * 100_000,  # too deep to read
        b'"just text"',
    ],
)
def test_an_entry_item_no_one_can_read_is_still_anchored_never_an_error(content):
    record = stream_record("MODIFY", content=content)
    record["dynamodb"]["ApproximateCreationDateTime"] = "not a time"
    written = written_in(record)
    assert written is not None and written.hour == "1970-01-01T00"
    assert written.anchored == Anchored("lead-1", 3, hashlib.sha256(content).hexdigest(), "overwrite")
