"""Vendor scorecards and suspension, through the operator CLI against the in-process stack: scripted leads
of two vendors, every figure of `vendors report` checked against what was scripted; a suspended vendor
refused by the authorizer in front of the real handlers."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tf_retainer.decisions.rules import RuleSet
from tf_retainer.runtime.clock import iso, parse_iso
from tf_retainer.store import keys
from tf_retainer.store.codec import deserialize, serialize
from tf_retainer.store.rule_sets import RuleStore

from local.poller import RetryPoller
from local.simulator import make_web_cert_id
from tests.support.cli import run, run_json
from tests.support.stack import VENDOR, lead
from tf_retainer_ops.scorecards import scorecards

OTHER = "beta-leads"
# created_at asked on every call, so a retained (or match-failed) lead knows its certificate's age.
SCORE_ENV = {"INSIGHTS_PROPERTIES": "is_masked,created_at"}


class Script:
    """Posts leads for a vendor and remembers what an operator would expect of each."""

    def __init__(self, stack, vendor: str, key: str) -> None:
        self.stack, self.vendor, self.key = stack, vendor, key
        self.created: dict[str, datetime] = {}  # lead id -> the certificate's scripted creation
        self.certs: list[str] = []

    def post(self, behaviour: str | None, *, age_minutes: int = 1, cert_id: str | None = None, **facts: Any) -> str:
        """A lead with a certificate of its own, or with ``cert_id`` (another consumer's lead reusing it)."""
        created = (datetime.now(UTC) - timedelta(minutes=age_minutes)).replace(microsecond=0)
        if cert_id is None:  # a certificate of its own (a reused one is billed to its holder)
            cert_id = make_web_cert_id()
            self.stack.sim.script(cert_id, [behaviour], created_at=created, **facts)
            self.certs.append(cert_id)
        contact = {} if behaviour is not None else {"email": f"reuser.{len(self.created)}@example.com"}
        answer = self.stack.post(lead(cert_id, **contact), key=self.key).json()
        if behaviour in ("success", "masked", "match_failure"):
            self.created[answer["lead_id"]] = created
        return cert_id

    def expected_operations(self) -> int:
        """What TrustedForm answered for this vendor's certificates: each billed operation, insights per
        property asked (the simulator answers every one asked)."""
        total = 0
        for request in self.stack.sim.requests:
            if request["cert_id"] in self.certs and request["operations"]:
                body = request["body"]
                total += sum(1 for op in ("match_lead", "retain", "verify") if op in request["operations"])
                if "insights" in request["operations"]:
                    total += len(body["insights"]["properties"])
        return total


def expire(stack, script: Script) -> None:
    """A lead whose TrustedForm stays down until its retain window has closed: expired, never retained."""
    cert_id = script.post("unavailable")
    lead_id = next(
        item["lead_id"] for item in all_states(stack) if item["cert_id"] == cert_id and item["vendor"] == script.vendor
    )
    stack.rewrite_state(lead_id, deadline=iso(datetime.now(UTC) - timedelta(hours=1)))
    poller = RetryPoller(stack.provisioned, wait_seconds=1)
    for _ in range(20):
        if stack.lead_state(lead_id)["status"] == "expired":
            return
        messages = poller.receive_batch()
        if messages:
            poller.process(messages)
    raise AssertionError("the lead did not expire")


def all_states(stack) -> list[dict[str, Any]]:
    return [item for item in stack.all_items() if keys.is_state(item)]


def age_median(stack, script: Script) -> float:
    ages = [
        (parse_iso(stack.lead_state(lead_id)["received_at"]) - created).total_seconds()
        for lead_id, created in script.created.items()
    ]
    return statistics.median(ages)


@pytest.mark.parametrize("stack_env", [SCORE_ENV])
def test_scorecards_match_a_scripted_set_of_leads(stack):
    other_key = stack.add_vendor(OTHER)
    stack.add_vendor("quiet-co")  # a vendor without leads: listed, every figure empty
    RuleStore(stack.provisioned.table_name).publish(
        OTHER, RuleSet.model_validate({"bot_detected": {"mode": "enforce"}}), actor="test", now=datetime.now(UTC)
    )
    acme, beta = Script(stack, VENDOR, stack.vendor_key), Script(stack, OTHER, other_key)
    first = acme.post("success", age_minutes=10)
    acme.post("success", age_minutes=20)
    acme.post("success", age_minutes=40)
    acme.post("masked", age_minutes=30)
    acme.post("match_failure", age_minutes=50)
    acme.post("not_found")
    acme.post(None, cert_id=first)  # the same certificate again: refused as reused
    expire(stack, acme)
    beta.post("success", age_minutes=5)
    beta.post("success", age_minutes=6, bot_detected=True)  # refused by beta's rule before any retain
    beta.post(None, cert_id=first)  # another vendor's certificate: refused as reused

    report = run_json(stack, "vendors", "report", "--since", "1h")
    cards = {card["vendor"]: card for card in report["vendors"]}
    assert list(cards) == sorted([VENDOR, OTHER, "quiet-co"])

    a = cards[VENDOR]
    assert (a["leads"], a["retained"], a["rejected"], a["expired"], a["open"]) == (8, 4, 3, 1, 0)
    assert (a["retained_pct"], a["match_failure_pct"], a["masked_pct"]) == (50.0, 12.5, 12.5)
    assert (a["match_failures"], a["masked"], a["reused_refused"], a["reuse_attempts"]) == (1, 1, 1, 1)
    assert a["rules_refused"] == {}
    assert a["rejected_by_reason"] == {"lead_match_failed": 1, "certificate_not_found": 1, "certificate_reused": 1}
    assert a["expired_by_reason"] == {"retain_window_closed": 1}
    assert a["certificate_ages_known"] == 5
    assert a["median_certificate_age_seconds"] == pytest.approx(age_median(stack, acme), abs=0.1)
    assert a["median_certificate_age_seconds"] > 29 * 60  # 10, 20, 30, 40, 50 minutes: the median is 30
    assert a["tf_operations"] == acme.expected_operations() > 0

    b = cards[OTHER]
    assert (b["leads"], b["retained"], b["rejected"], b["expired"]) == (3, 1, 2, 0)
    assert (b["retained_pct"], b["match_failure_pct"], b["masked_pct"]) == (33.3, 0.0, 0.0)
    assert (b["reused_refused"], b["reuse_attempts"]) == (1, 1)
    assert b["rules_refused"] == {"bot_detected": 1}
    assert b["median_certificate_age_seconds"] == pytest.approx(age_median(stack, beta), abs=0.1)
    assert b["tf_operations"] == beta.expected_operations() > 0

    quiet = cards["quiet-co"]
    assert (quiet["leads"], quiet["retained_pct"], quiet["median_certificate_age_seconds"]) == (0, None, None)

    # One vendor; and a period before any of these leads has none.
    assert [c["vendor"] for c in run_json(stack, "vendors", "report", "--vendor", OTHER)["vendors"]] == [OTHER]
    before = iso(datetime.now(UTC) - timedelta(hours=2))
    early = run_json(stack, "vendors", "report", "--since", "1d", "--until", before)
    assert all(card["leads"] == 0 for card in early["vendors"])

    code, out, err = run(stack, "vendors", "report")
    assert code == 0, err
    row = next(line.split() for line in out.splitlines() if line.startswith(VENDOR))
    assert row[:3] == [VENDOR, "8", "50%"]
    assert f"{OTHER}: rules refused bot_detected=1" in out
    assert f"{VENDOR}: rules refused -; expired retain_window_closed=1" in out


def test_report_progress_goes_to_stderr_on_long_runs_and_an_unknown_vendor_is_exit_1(stack):
    stack.post(lead())
    lines: list[str] = []
    cards = scorecards(
        stack.leads, [VENDOR], since=datetime.now(UTC) - timedelta(hours=1), progress=lines.append,
        progress_after_seconds=0,
    )  # fmt: skip
    assert cards[0].leads == 1 and lines == [f"vendors read: 1/1 ({VENDOR}), 1 lead(s) so far"]
    code, out, err = run(stack, "vendors", "report", "--vendor", "nobody")
    assert (code, out) == (1, "") and "no vendor nobody" in err


def key_item(stack, api_key: str) -> dict[str, Any]:
    out = stack.dynamodb.get_item(
        TableName=stack.provisioned.table_name,
        Key=serialize(keys.key(keys.vendor_key_pk(keys.key_hash(api_key)), keys.VENDOR)),
    )
    return deserialize(out["Item"])


def key_events(stack, api_key: str) -> list[dict[str, Any]]:
    pk = keys.vendor_key_pk(keys.key_hash(api_key))
    return [item for item in stack.all_items() if item["pk"] == pk and keys.is_event(item)]


def test_suspend_and_resume_a_vendor_through_the_authorizer(stack, capsys):
    second_key = run_json(stack, "vendors", "add", VENDOR)["api_key"]
    other_key = stack.add_vendor(OTHER)
    revoked_key = run_json(stack, "vendors", "add", "gone-co")["api_key"]
    assert run(stack, "vendors", "revoke", "gone-co")[0] == 0
    before = len(all_states(stack))

    code, _, _ = run(stack, "vendors", "suspend", VENDOR)
    assert code == 2 and "--reason" in capsys.readouterr().err  # a suspension always says why (argparse)
    code, out, err = run(stack, "vendors", "suspend", VENDOR, "--reason", "consent audit", "--actor", "alice")
    assert code == 0, err
    assert f"vendor {VENDOR}: suspended (consent audit) by alice, 2 key(s) changed" in out

    for api_key in (stack.vendor_key, second_key):  # every key of the vendor
        refused = stack.post(lead(), key=api_key)
        assert (refused.status, refused.json()) == (403, {"status": "rejected", "reason": "vendor_suspended"})
        assert stack.get("some-lead", key=api_key).status == 403
        record = key_item(stack, api_key)["suspended"]
        assert (record["reason"], record["by"]) == ("consent audit", "alice") and record["at"]
        [event] = key_events(stack, api_key)
        assert (event["type"], event["actor"], event["detail"]) == (
            "vendor_suspended",
            "alice",
            {"reason": "consent audit"},
        )
    assert len(all_states(stack)) == before  # nothing stored, nothing sent
    assert stack.sim.requests == []
    assert stack.post(lead(), key=other_key).status == 201  # other vendors untouched
    revoked = stack.post(lead(), key=revoked_key)
    assert (revoked.status, revoked.json()["reason"]) == (403, "vendor_key_revoked")  # distinct from suspended

    listing = {row["key_hash"]: row for row in run_json(stack, "vendors", "list")}
    assert listing[keys.key_hash(second_key)]["suspended"]["reason"] == "consent audit"
    assert listing[keys.key_hash(other_key)]["suspended"] is None
    code, _, err = run(stack, "vendors", "add", VENDOR)  # a new key would slip past the suspension
    assert code == 1 and f"vendor {VENDOR} is suspended" in err

    code, out, err = run(stack, "vendors", "resume", VENDOR, "--actor", "bob")
    assert code == 0 and "resumed by bob, 2 key(s) changed" in out, err
    assert stack.post(lead(), key=stack.vendor_key).status == 201
    assert "suspended" not in key_item(stack, second_key)
    events = sorted(key_events(stack, second_key), key=lambda item: item["sk"])
    assert [(e["type"], e["actor"]) for e in events] == [("vendor_suspended", "alice"), ("vendor_resumed", "bob")]

    # A revoked key stays revoked through a suspension and its end.
    assert run(stack, "vendors", "suspend", "gone-co", "--reason", "x")[0] == 0
    assert run(stack, "vendors", "resume", "gone-co")[0] == 0
    assert stack.post(lead(), key=revoked_key).json()["reason"] == "vendor_key_revoked"
    code, _, err = run(stack, "vendors", "suspend", "nobody", "--reason", "x")
    assert code == 1 and "no keys for vendor nobody" in err
