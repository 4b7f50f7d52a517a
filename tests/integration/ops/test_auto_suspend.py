"""Automatic vendor suspension: scripted leads of several vendors through the real handlers, then
AutoSuspendFunction run as its schedule runs it; the suspension seen as an operator sees it (`vendors
show`) and as the vendor does (the authorizer's 403 vendor_suspended)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tf_retainer.store import keys

from local.functions import invoke
from local.simulator import make_web_cert_id
from tests.support.cli import run, run_json
from tests.support.stack import VENDOR, lead

SHADY, FEW = "shady-leads", "few-leads"
SCHEDULED = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
# Suspend below 60 % retained, judged on at least 2 decided leads (few: every lead costs the test time).
ON = {"AUTO_SUSPEND_BELOW_RETAINED_PERCENT": "60", "AUTO_SUSPEND_MIN_LEADS": "2"}


def post(stack, key: str, *, retained: int = 0, refused: int = 0) -> None:
    """Leads the simulator retains, and leads it does not know (refused: certificate_not_found)."""
    for behaviour in ["success"] * retained + ["not_found"] * refused:
        cert_id = make_web_cert_id()
        stack.sim.script(cert_id, [behaviour])
        assert stack.post(lead(cert_id), key=key).status in (201, 422)


def evaluate() -> dict[str, Any]:
    result: dict[str, Any] = invoke("AutoSuspendFunction", SCHEDULED)
    return result


def suspensions(stack) -> dict[str, dict[str, Any] | None]:
    return {key.vendor: key.suspended for key in stack.vendor_keys.list()}


def refused_for(stack, key: str) -> tuple[int, Any]:
    answer = stack.post(lead(), key=key)
    return answer.status, answer.json()


@pytest.mark.parametrize("stack_env", [ON])
def test_a_vendor_below_the_threshold_is_suspended_until_an_operator_resumes_it(stack, service_logs, capfd):
    shady_key, few_key = stack.add_vendor(SHADY), stack.add_vendor(FEW)
    post(stack, stack.vendor_key, retained=2)  # 100 %
    post(stack, shady_key, retained=1, refused=1)  # 50 % of 2 decided leads
    post(stack, few_key, refused=1)  # 0 %, but 1 lead: too few to judge

    result = evaluate()
    assert result["suspended"] == [SHADY]
    figures = {row["vendor"]: (row["decided"], row["retained_pct"]) for row in result["vendors"]}
    assert figures == {VENDOR: (2, 100.0), SHADY: (2, 50.0), FEW: (1, 0.0)}
    standing = suspensions(stack)
    assert standing[VENDOR] is None and standing[FEW] is None
    reason = standing[SHADY]["reason"]
    assert standing[SHADY]["by"] == "auto-suspend"
    assert reason.startswith("automatic: retained 50% < 60% (AUTO_SUSPEND_BELOW_RETAINED_PERCENT) over 2 decided")

    # The vendor's key is refused.
    assert refused_for(stack, shady_key) == (403, {"status": "rejected", "reason": "vendor_suspended"})

    # The operator sees who and why, and the event under the key.
    shown = run_json(stack, "vendors", "show", SHADY)
    assert shown["suspended"]["reason"] == reason
    [event] = shown["history"]
    assert (event["type"], event["actor"], event["keys"]) == ("vendor_suspended", "auto-suspend", 1)
    assert {k: event["detail"][k] for k in ("figure", "value", "threshold", "decided")} == {
        "figure": "retained_pct",
        "value": 50.0,
        "threshold": 60.0,
        "decided": 2,
    }
    code, out, _ = run(stack, "vendors", "show", SHADY)
    assert code == 0 and f"vendor {SHADY}: suspended by auto-suspend at " in out

    # A metric and a log line, naming the vendor and the figures, nothing of a lead.
    logs = service_logs.getvalue() + capfd.readouterr().out
    [line] = [json.loads(text) for text in logs.splitlines() if "vendor suspended automatically" in text]
    assert (line["vendor"], line["figure"], line["value"], line["threshold"]) == (SHADY, "retained_pct", 50.0, 60.0)
    assert '"VendorsAutoSuspended"' in logs
    assert not any(contact in logs for contact in ("Jane.Doe@Example.com", "jane.doe", "555-1212", shady_key))

    # The next run leaves the suspension as it is.
    assert evaluate()["suspended"] == [] and suspensions(stack)[SHADY]["reason"] == reason

    # An operator resumes it: the leads that caused the suspension are not counted again.
    assert run(stack, "vendors", "resume", SHADY, "--actor", "bob")[0] == 0
    assert evaluate()["suspended"] == []
    post(stack, shady_key, refused=1)  # 1 new lead: too few to judge yet
    assert evaluate()["suspended"] == [] and suspensions(stack)[SHADY] is None
    post(stack, shady_key, refused=1)  # the 2nd: 0 % of the leads since the resume
    result = evaluate()
    assert result["suspended"] == [SHADY]
    resumed_at = run_json(stack, "vendors", "show", SHADY)["resumed_at"]
    assert suspensions(stack)[SHADY]["reason"].endswith(f"over 2 decided leads since {resumed_at}")
    assert refused_for(stack, shady_key)[1]["reason"] == "vendor_suspended"
    history = [(e["type"], e["actor"]) for e in run_json(stack, "vendors", "show", SHADY)["history"]]
    assert history == [
        ("vendor_suspended", "auto-suspend"),
        ("vendor_resumed", "bob"),
        ("vendor_suspended", "auto-suspend"),
    ]


def test_off_by_default_nothing_is_evaluated(stack):
    shady_key = stack.add_vendor(SHADY)
    post(stack, shady_key, refused=4)
    assert evaluate() == {"enabled": False, "vendors": [], "suspended": [], "already_suspended": 0}
    assert suspensions(stack)[SHADY] is None
    assert stack.post(lead(), key=shady_key).status == 201


@pytest.mark.parametrize("stack_env", [ON])
def test_an_operators_suspension_or_resume_meanwhile_wins(stack):
    """The suspension is written only if the key is as the run read it."""
    from datetime import UTC, datetime

    shady_key = stack.add_vendor(SHADY)
    digest = keys.key_hash(shady_key)
    [seen] = [key for key in stack.vendor_keys.list() if key.vendor == SHADY]
    now = datetime.now(UTC)
    stack.vendor_keys.set_suspended(digest, suspended=True, reason="audit", actor="alice", now=now)
    assert not stack.vendor_keys.set_suspended(
        digest, suspended=True, reason="automatic", actor="auto-suspend", now=now, seen=seen
    )
    assert suspensions(stack)[SHADY]["by"] == "alice"  # not overwritten
    stack.vendor_keys.set_suspended(digest, suspended=False, reason=None, actor="alice", now=now)
    assert not stack.vendor_keys.set_suspended(  # resumed since it was read
        digest, suspended=True, reason="automatic", actor="auto-suspend", now=now, seen=seen
    )
    assert suspensions(stack)[SHADY] is None
