"""The evidence chain: any edit, removal, reordering or transplant of a stored entry is caught, and the
first broken link named."""

import hashlib

import pytest
from tf_retainer.domain import chain

LEAD = ("L1", "acme", "c" * 40, "2026-11-22T12:00:00.000000Z")


def stored_chain(count: int = 4) -> list[chain.Link]:
    """``count`` entries as a writer stores them: each naming the hash of the one before."""
    links, prev = [], chain.genesis(*LEAD)
    for seq in range(1, count + 1):
        entry = chain.Entry(
            seq=seq,
            at=f"2026-11-22T12:00:0{seq}.000000Z",
            prev=prev,
            events=[{"type": "attempt", "actor": "retry", "detail": {"attempt": seq}}],
            exchanges=[{"attempt": seq, "response": {"status": 503, "body": "busy"}}],
        )
        content = chain.unpack(chain.pack(entry.content()))
        links.append(chain.Link(seq, content, hashlib.sha256(content).hexdigest()))
        prev = links[-1].stored_hash
    return links


def test_an_untouched_chain_verifies_and_reads_back_every_entry():
    entries = chain.verify(stored_chain(), chain.genesis(*LEAD))
    assert [entry.seq for entry in entries] == [1, 2, 3, 4]
    assert entries[2].exchanges == [{"attempt": 3, "response": {"status": 503, "body": "busy"}}]


def test_an_edited_response_is_named():
    links = stored_chain()
    links[2] = chain.Link(3, links[2].content.replace(b"busy", b"okay"), links[2].stored_hash)
    with pytest.raises(chain.BrokenChain) as broken:
        chain.verify(links, chain.genesis(*LEAD))
    assert broken.value.seq == 3 and "hashes to" in broken.value.why


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link():
    links = stored_chain()
    edited = links[1].content.replace(b"busy", b"okay")
    links[1] = chain.Link(2, edited, hashlib.sha256(edited).hexdigest())
    with pytest.raises(chain.BrokenChain) as broken:
        chain.verify(links, chain.genesis(*LEAD))
    assert broken.value.seq == 3 and "previous hash" in broken.value.why


def test_a_removed_entry_is_named():
    links = stored_chain()
    del links[1]
    with pytest.raises(chain.BrokenChain) as broken:
        chain.verify(links, chain.genesis(*LEAD))
    assert broken.value.seq == 2 and "missing" in broken.value.why


def test_a_chain_moved_to_another_lead_fails_at_its_first_entry():
    with pytest.raises(chain.BrokenChain) as broken:
        chain.verify(stored_chain(), chain.genesis("L2", *LEAD[1:]))
    assert broken.value.seq == 1


def test_the_packed_form_is_lossless_and_small():
    entry = chain.Entry(seq=1, at="t", prev="0" * 64, events=[{"type": "received", "detail": {"é": "ü"}}])
    assert chain.unpack(chain.pack(entry.content())) == entry.content()
    with pytest.raises(ValueError):
        chain.unpack(b"\x09" + chain.pack(entry.content())[1:])  # an unknown format is refused, not guessed


def test_entries_packed_before_issue_22_still_read_and_entries_pack_smaller_now():
    """Issue 22: entries are packed with a dictionary of whole entries (packing 2); those written with the
    words-only dictionary (packing 1) read back as they were, and verify."""
    links = stored_chain()
    contents = [link.content for link in links]
    old, new = [chain.pack(c, 1) for c in contents], [chain.pack(c) for c in contents]
    assert [blob[0] for blob in old + new] == [1] * len(old) + [2] * len(new)
    assert [chain.unpack(blob) for blob in old + new] == contents * 2
    assert chain.verify(
        [chain.Link(link.seq, chain.unpack(o), link.stored_hash) for link, o in zip(links, old, strict=True)],
        chain.genesis(*LEAD),
    )
    # A call's request as the service records it before sending it: a quarter smaller than with packing 1.
    headers = {"accept": "application/json", "api-version": "4.0", "authorization": "Basic [REDACTED]"}
    body = '{"match_lead":{"email":"' + "e" * 40 + '"},"insights":{"properties":["age_seconds","bot_detected"]}}'
    calling = chain.Entry(
        seq=1,
        at="2026-11-22T12:00:01.000000Z",
        prev=chain.genesis(*LEAD),
        events=[
            {"type": "received", "actor": "intake", "at": LEAD[3], "detail": {"status": "received", "vendor": "acme"}},
            {"type": "calling", "actor": "intake", "detail": {"attempt": 1, "call_id": "1.1/0a1b2c3d"}},
        ],
        calls=[
            {"attempt": 1, "call_id": "1.1/0a1b2c3d", "request": {"body": body, "headers": headers, "method": "POST"}}
        ],
    ).content()
    assert len(chain.pack(calling)) < 0.8 * len(chain.pack(calling, 1))
