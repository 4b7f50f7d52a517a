"""Which stored exchange `rules test` replays a lead's rules on: TrustedForm's answer, never a screen's (a
Jornaya audit, a Do-Not-Call answer), which the lead keeps among its screen results instead."""

from __future__ import annotations

import json

from tf_retainer_ops.backtest import judged_exchange


def exchange(body: dict, *, provider: str | None = None, status: int = 200) -> dict:
    found = {"request": {"body": json.dumps(body)}, "response": {"status": status, "body": "{}"}}
    return found | ({"provider": provider, "screen": "leadid"} if provider else {})


def test_a_screen_s_answer_stored_first_is_not_taken_for_trustedform_s():
    audit = exchange({"lac": "[redacted]"}, provider="jornaya")
    retain = exchange({"reference": "L-1", "match_lead": {"email": "x"}})  # a plain retain: no insights asked
    assert judged_exchange([audit, retain]) is retain


def test_trustedform_s_probe_is_preferred_and_a_lead_with_only_screen_answers_has_none_to_replay():
    audit = exchange({"lac": "[redacted]"}, provider="jornaya")
    probe = exchange({"insights": {"properties": ["age_seconds"]}})
    retain = exchange({"reference": "L-1"})
    assert judged_exchange([audit, retain, probe]) is probe
    assert judged_exchange([audit, exchange({}, provider="dncscrub")]) is None
