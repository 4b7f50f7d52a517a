"""The fault soak's revoked consumers (bench/soak_revocations.py): each has leads of its own number, some
posted after its STOP; the audit finds a lead without its entry, one with it twice, and another consumer's
lead with one: each a failure of the run."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from bench import soak, soak_revocations
from bench.soak_revocations import LEADS_PER_CONSUMER, Recorded


def entry(*revocation_ids: str) -> SimpleNamespace:
    events = [{"type": "retained", "detail": {}}]
    events += [{"type": "consent_revoked", "detail": {"revocation_id": rid}} for rid in revocation_ids]
    return SimpleNamespace(events=events)


def test_each_consumer_has_leads_of_its_own_number_some_posted_after_its_stop():
    plan = soak_revocations.plan(random.Random(7), 100, 5)
    indices = [index for group in plan.consumers.values() for index in group]
    assert len(plan.consumers) == 5 and len(indices) == len(set(indices)) == 5 * LEADS_PER_CONSUMER
    assert all(not phone.startswith("512-555-") for phone in plan.consumers)  # no other lead's number
    after = LEADS_PER_CONSUMER - soak_revocations.BEFORE
    assert sorted(plan.later) == sorted(i for group in plan.consumers.values() for i in sorted(group)[-after:])


def test_the_audit_finds_a_missing_a_doubled_and_a_wrong_entry():
    plan = soak_revocations.Plan(consumers={"303-555-1000": [0, 1, 2, 3]}, later=[2, 3])
    times = {"recorded_at": "2026-12-08T10:00:00.000000Z", "honored_at": "2026-12-08T10:00:00.200000Z"}
    stops = [Recorded("303-555-1000", 201, {"revocation_id": "r1", **times})]
    lead_ids = {0: "a", 1: "b", 2: "c", 3: "d", 4: "other"}
    entries = {"a": [entry("r1")], "b": [entry(), entry("r1")], "c": [entry()], "d": [entry("r1", "r1")]}
    entries["other"] = [entry("r1")]
    received = {"a": "2026-12-08T09:59:00.000000Z", "b": "2026-12-08T10:00:00.100000Z"}
    received |= {"c": "2026-12-08T10:00:00.300000Z", "d": "2026-12-08T10:05:00.000000Z"}
    result, revoked = soak_revocations.audit(plan, stops, lead_ids, entries, received)
    assert (result.leads, result.once, revoked) == (4, 2, ["a", "b", "c", "d"])
    assert result.received == {"before": 1, "while": 1, "after": 2}
    assert [m.split()[0] for m in result.missing] == ["c"]
    assert [t.split()[0] for t in result.twice] == ["d"]
    assert result.wrongly_revoked == ["other"] and not result.ok


def test_a_stop_never_answered_2xx_fails_the_run():
    plan = soak_revocations.Plan(consumers={"303-555-1000": [0]}, later=[])
    result, _ = soak_revocations.audit(plan, [Recorded("303-555-1000", 502, {})], {0: "a"}, {"a": [entry("r1")]})
    assert result.answers == {"502": 1} and result.unanswered and not result.ok


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--leads", "10", "--revocations", "3"], "--revocations N needs 4 x N leads"),
        (["--leads", "40", "--revocations", "2", "--screens"], "numbers of their own"),
    ],
)
def test_revocations_the_soak_cannot_run_are_refused_before_anything_starts(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        soak.main(argv)
    assert stopped.value.code == 2 and message in capsys.readouterr().err
