"""`tf-retainer rules show|set|test` against the `stack` fixture: rule sets published as versions, bad
input refused whole, a mode flipped, and the backtest (stored exchanges replayed, TrustedForm never
called) agreeing with what the live intake did."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tf_retainer.store.rule_sets import RuleStore

from local.simulator import make_web_cert_id
from tests.support.cli import run, run_json
from tests.support.stack import VENDOR, lead

# The walkthrough's rule set (README / docs/operations.md): max age 15 minutes, no bots, own domains only.
WALKTHROUGH = {
    "max_age": {"mode": "shadow", "max_seconds": 900},
    "bot_detected": {"mode": "shadow"},
    "domains": {"mode": "shadow", "allowed": ["acme-leads.example"]},
}
# A shadow rule is judged only on what was asked anyway: watching these in shadow, the deployment asks
# for what they read in the call it makes anyway (INSIGHTS_PROPERTIES), as the walkthrough says.
WATCHED = {"INSIGHTS_PROPERTIES": "is_masked,created_at,age_seconds,bot_detected,domain,page_url"}
GOOD = {
    "domain": "acme-leads.example",
    "page_url": "https://www.acme-leads.example/quote",
    "bot_detected": False,
    "form_input_method": ["typing"],
}


def rules_file(tmp_path: Path, rules: Any, name: str = "rules.json") -> str:
    path = tmp_path / name
    path.write_text(rules if isinstance(rules, str) else json.dumps(rules))
    return str(path)


def enforced(rules: dict[str, Any]) -> dict[str, Any]:
    return {name: {**rule, "mode": "enforce"} for name, rule in rules.items()}


def versions(stack, scope: str = "*") -> list[Any]:
    return RuleStore(stack.provisioned.table_name, client=stack.dynamodb).versions(scope)


def post_session(stack, key: str | None = None, **session: Any) -> dict[str, Any]:
    cert_id = make_web_cert_id()
    stack.sim.script(
        cert_id, ["success"], **{"created_at": datetime.now(UTC) - timedelta(minutes=2), **GOOD, **session}
    )
    return stack.post(lead(cert_id), key=key).json()


def old() -> datetime:
    return datetime.now(UTC) - timedelta(minutes=40)


def test_show_set_versions_and_the_vendor_overlay(stack, tmp_path):
    code, out, err = run(stack, "rules", "show")
    assert code == 0, err
    assert "the default rule set: none" in out and "lead_match" in out  # the deployment's policies still apply

    code, out, err = run(stack, "rules", "set", rules_file(tmp_path, WALKTHROUGH), "--actor", "alice")
    assert code == 0, err
    assert "version 1 published" in out and "max_age" in out

    shown = run_json(stack, "rules", "show")
    assert shown["active_version"] == 1 and shown["shown"]["rules"] == WALKTHROUGH
    assert shown["shown"]["actor"] == "alice" and shown["effective"]["version"] == "default@1"
    assert shown["effective"]["rules"]["lead_match"] == {"mode": "enforce"}  # LEAD_MATCH_POLICY=reject

    vendor_rules = {"confirmed_owner": {"owner": "Acme Leads, Inc."}, "bot_detected": {"mode": "enforce"}}
    set_vendor = run_json(stack, "rules", "set", "--vendor", VENDOR, rules_file(tmp_path, vendor_rules, "v.json"))
    assert (set_vendor["scope"], set_vendor["version"], set_vendor["label"]) == (VENDOR, 1, f"{VENDOR}@1")
    overlay = run_json(stack, "rules", "show", "--vendor", VENDOR)
    assert overlay["effective"]["version"] == f"default@1+{VENDOR}@1"
    effective = overlay["effective"]["rules"]
    assert effective["bot_detected"]["mode"] == "enforce"  # the vendor's rule replaces the default's
    assert effective["max_age"]["max_seconds"] == 900 and effective["domains"]["allowed"] == ["acme-leads.example"]
    assert effective["confirmed_owner"]["owner"] == "Acme Leads, Inc."
    code, out, _ = run(stack, "rules", "show", "--vendor", VENDOR)
    assert f"in force for {VENDOR}'s leads (default@1+{VENDOR}@1" in out

    run_json(stack, "rules", "set", rules_file(tmp_path, {"bot_detected": {}}, "2.json"), "--actor", "bob")
    listed = run_json(stack, "rules", "show", "--versions")["versions"]
    assert [(v["version"], v["actor"], v["active"]) for v in listed] == [(1, "alice", False), (2, "bob", True)]
    assert all(v["created_at"] for v in listed)
    code, out, _ = run(stack, "rules", "show", "--versions")
    assert code == 0 and "2 version(s)" in out and "bob  (active)" in out
    first = run_json(stack, "rules", "show", "--version", "1")
    assert first["shown"]["rules"] == WALKTHROUGH and first["active_version"] == 2

    code, _, err = run(stack, "rules", "show", "--vendor", "no-such-vendor")
    assert code == 2 and "no vendor no-such-vendor" in err


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ({"max_agee": {"max_seconds": 900}}, ["max_agee: unknown rule"]),
        ({"max_age": {"max_seconds": "soon"}}, ["max_age.max_seconds: Input should be a valid integer", '"soon"']),
        ({"max_age": {"max_seconds": -5}}, ["max_age.max_seconds: Input should be greater than 0 (got -5)"]),
        ({"bot_detected": {"mode": "loud"}}, ["bot_detected.mode: Input should be 'enforce', 'shadow' or 'off'"]),
        ({"domains": {"allowed": ["a.example"], "blocked": []}}, ["domains.blocked: unknown field of domains"]),
        (
            {"consent_verified": {"one_to_one": True}},
            ["consent_verified: one_to_one needs the buyer's advertiser_name"],
        ),
        ({"bot_detected": "yes"}, ["bot_detected: should be an object"]),
        ({"max_age": None}, ["max_age: null is not kept"]),
        ('{"max_age": ', ["(file): not valid JSON"]),
        (["bot_detected"], ["(file): a rule set is a JSON object"]),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(stack, tmp_path, rules, expected):
    code, out, err = run(stack, "rules", "set", rules_file(tmp_path, rules))
    assert (code, out) == (2, "")
    first = err.splitlines()[0]
    assert all(part in first for part in expected), err
    assert err.splitlines()[-1] == "tf-retainer: 1 error(s): nothing written"
    assert versions(stack) == []


def test_every_error_gets_its_own_line(stack, tmp_path):
    bad = {"max_age": {"max_seconds": 0}, "nope": {}, "form_input_method": {"refused": ["telepathy"]}}
    code, _, err = run(stack, "rules", "set", rules_file(tmp_path, bad))
    lines = err.splitlines()
    assert code == 2 and lines[-1] == "tf-retainer: 3 error(s): nothing written"
    assert [line.split(":")[1].strip() for line in lines[:-1]] == [
        "max_age.max_seconds",
        "form_input_method.refused.0",
        "nope",
    ]


def test_set_is_all_or_nothing(stack, tmp_path, monkeypatch):
    run_json(stack, "rules", "set", rules_file(tmp_path, WALKTHROUGH))
    # One good rule beside one bad one: none of it is published, version 1 stays active.
    half = {"bot_detected": {"mode": "enforce"}, "max_age": {"max_seconds": -1}}
    code, _, err = run(stack, "rules", "set", rules_file(tmp_path, half, "half.json"))
    assert code == 2 and "max_age.max_seconds" in err
    assert [v.version for v in versions(stack)] == [1]
    assert run_json(stack, "rules", "show")["shown"]["rules"] == WALKTHROUGH

    # Someone else published meanwhile (the CLI's read is stale): the transaction writes nothing.
    run_json(stack, "rules", "set", rules_file(tmp_path, {"bot_detected": {}}, "other.json"))
    stale = versions(stack)[0]
    monkeypatch.setattr(RuleStore, "active", lambda self, scope: stale)
    code, out, err = run(stack, "rules", "set", rules_file(tmp_path, enforced(WALKTHROUGH), "mine.json"))
    assert (code, out) == (1, "") and "changed by someone else meanwhile: nothing written" in err
    monkeypatch.undo()
    assert [v.version for v in versions(stack)] == [1, 2]
    assert versions(stack)[1].rules.model_dump(exclude_unset=True) == {"bot_detected": {}}


def test_mode_flip_publishes_a_new_version_with_only_that_mode_changed(stack, tmp_path, capsys):
    run_json(stack, "rules", "set", rules_file(tmp_path, WALKTHROUGH))
    flipped = run_json(stack, "rules", "set", "--mode", "max_age=enforce", "--mode", "bot_detected=enforce")
    assert flipped["version"] == 2
    assert flipped["rules"] == {**WALKTHROUGH, "max_age": {"mode": "enforce", "max_seconds": 900},
                                "bot_detected": {"mode": "enforce"}}  # fmt: skip
    assert run_json(stack, "rules", "show", "--version", "1")["shown"]["rules"] == WALKTHROUGH  # immutable

    added = run_json(stack, "rules", "set", "--mode", "masked_refused=enforce")  # no parameters: may be added
    assert added["rules"]["masked_refused"] == {"mode": "enforce"}

    code, _, err = run(stack, "rules", "set", "--mode", "page_scans=enforce")
    assert code == 2 and "page_scans is not in the default rule set: set it" in err
    code, _, _ = run(stack, "rules", "set", "--mode", "max_age=loud")
    assert code == 2 and "argument --mode: expected RULE=MODE" in capsys.readouterr().err  # argparse's own
    code, _, err = run(stack, "rules", "set", "--mode", "max_age=enforce")  # already so
    assert code == 0 and "nothing written" in err
    code, _, err = run(stack, "rules", "set", "--vendor", VENDOR, "--mode", "max_age=enforce")
    assert code == 2 and f"{VENDOR}'s rule set has no version yet" in err
    assert [v.version for v in versions(stack)] == [1, 2, 3]


def test_the_backtest_gives_the_refusals_the_live_intake_made(stack, tmp_path):
    run_json(stack, "rules", "set", rules_file(tmp_path, enforced(WALKTHROUGH)))
    kept = post_session(stack)
    live = [
        kept,
        post_session(stack, created_at=old()),
        post_session(stack, bot_detected=True),
        post_session(stack, domain="elsewhere.example", page_url="https://elsewhere.example/q"),
        post_session(stack, bot_detected=True, created_at=old()),  # two failures: the first in order reports
    ]
    # Another consumer's lead with the same certificate: refused before any call, nothing to replay.
    reused = stack.post(lead(kept["cert_id"], email="another.consumer@example.com")).json()
    assert [a["status"] for a in live] == ["retained", "rejected", "rejected", "rejected", "rejected"]
    assert reused["reason"] == "certificate_reused"
    calls = len(stack.sim.requests)

    report = run_json(stack, "rules", "test", "--version", "1")
    assert len(stack.sim.requests) == calls  # TrustedForm never called
    [acme] = report["vendors"]
    assert (acme["leads"], acme["replayed"], acme["not_replayed"]) == (6, 5, 1)
    assert acme["not_replayed_by_outcome"] == {"rejected:certificate_reused": 1}
    live_refused = {a["lead_id"]: a["reason"] for a in live if a["status"] == "rejected"}
    replayed = {d["lead_id"]: d["candidate"].removeprefix("refused:") for d in acme["leads_detail"]}
    assert replayed == live_refused
    assert acme["would_refuse_by_reason"] == {"lead_too_old": 2, "bot_detected": 1, "domain_not_allowed": 1}
    details = {d["lead_id"]: d["detail"] for d in acme["leads_detail"]}
    for answer in live[1:]:
        assert details[answer["lead_id"]] == answer["detail"]  # the same failing facts as the vendor was told
    assert acme["changed"] == 0 and acme["could_not_judge"] == 0

    code, out, err = run(stack, "rules", "test", "--version", "1")
    assert code == 0, err
    assert "6 lead(s), 5 replayed, 1 without a TrustedForm answer" in out
    assert "would refuse:         4    lead_too_old=2" in out and "outcome changes:      0" in out


@pytest.mark.parametrize("stack_env", [WATCHED])
def test_the_backtest_of_shadow_rules_enforced_predicts_the_refusals(stack, tmp_path):
    run_json(stack, "rules", "set", rules_file(tmp_path, WALKTHROUGH))
    other = stack.add_vendor("other-vendor")
    answers = {
        "good": post_session(stack),
        "old": post_session(stack, created_at=old()),
        "bot": post_session(stack, bot_detected=True),
        "pasted": post_session(stack, form_input_method=["paste"]),
        "theirs": post_session(stack, key=other, domain="other.example", page_url="https://other.example/"),
    }
    assert {a["status"] for a in answers.values()} == {"retained"}  # shadow keeps every lead

    # The candidate: the active set with two rules enforced, and one more rule nobody asked TrustedForm about.
    candidate = {
        **enforced(WALKTHROUGH),
        "domains": WALKTHROUGH["domains"],
        "form_input_method": {"refused": ["paste"]},
    }
    report = run_json(stack, "rules", "test", "--file", rules_file(tmp_path, candidate, "candidate.json"))
    by_vendor = {r["vendor"]: r for r in report["vendors"]}
    acme, theirs = by_vendor[VENDOR], by_vendor["other-vendor"]
    assert acme["would_refuse_by_reason"] == {"lead_too_old": 1, "bot_detected": 1}
    assert acme["changes"] == {"kept->refused": 2}
    predicted = {d["lead_id"] for d in acme["leads_detail"] if d["change"]}
    assert predicted == {answers["old"]["lead_id"], answers["bot"]["lead_id"]}
    # form_input_method was never asked for: not judged (and said why), never a refusal
    assert acme["could_not_judge"] == 4
    assert acme["could_not_judge_by_rule"] == {"form_input_method": {"leads": 4, "needs": "insights form_input_method"}}
    assert theirs["would_refuse"] == 0 and theirs["shadow_would_refuse_by_reason"] == {"domain_not_allowed": 1}

    # The same prediction without a file: the active set with modes flipped.
    flipped = run_json(stack, "rules", "test", "--mode", "max_age=enforce", "--mode", "bot_detected=enforce")
    assert flipped["total"]["would_refuse"] == 2 and flipped["total"]["changed"] == 2
    assert flipped["candidate"]["label"] == "default@1 with max_age=enforce bot_detected=enforce"

    # Enforce it for real: the same sessions are now refused, as predicted.
    code, out, err = run(stack, "rules", "set", "--mode", "max_age=enforce", "--mode", "bot_detected=enforce")
    assert code == 0 and "version 2 published" in out, err
    assert post_session(stack, created_at=old())["reason"] == "lead_too_old"
    assert post_session(stack, bot_detected=True)["reason"] == "bot_detected"
    assert post_session(stack)["status"] == "retained"
    since = run_json(stack, "rules", "test", "--vendor", "other-vendor", "--since", "1h")
    assert since["candidate"]["scope"] == "other-vendor" and [r["vendor"] for r in since["vendors"]] == ["other-vendor"]


def test_rules_test_refuses_what_it_cannot_use(stack, tmp_path):
    nothing = run_json(stack, "rules", "test")  # no rule set stored: the deployment's policies alone
    assert nothing["candidate"]["label"] == "the default rule set: none stored" and nothing["total"]["leads"] == 0
    run_json(stack, "rules", "set", rules_file(tmp_path, WALKTHROUGH))
    code, _, err = run(stack, "rules", "test", "--version", "7")
    assert code == 1 and "no version 7" in err
    code, _, err = run(stack, "rules", "test", "--since", "last week")
    assert code == 2 and "--since 'last week'" in err
    code, _, err = run(stack, "rules", "test", "--file", rules_file(tmp_path, {"nope": {}}, "bad.json"))
    assert code == 2 and "nope: unknown rule" in err
