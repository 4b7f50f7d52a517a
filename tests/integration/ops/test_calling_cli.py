"""`tf-retainer calling set|show` on the in-process stack: the buyer's override published, stored and read back
as the gate reads it (store/calling_rules.py), its nulls included."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tf_retainer.decisions.calling import in_force
from tf_retainer.decisions.contact import ContactReason, check_contact
from tf_retainer.decisions.location import locate
from tf_retainer.store.calling_rules import CallingRuleStore

from tests.support.cli import run_json

CENTRAL = ZoneInfo("America/Chicago")
AL_SOURCE = "https://www.dropcowboy.com/state-compliance/al"


def test_an_override_keeps_its_nulls_no_sunday_contacts_a_cap_removed_a_state_removed(stack, tmp_path: Path):
    # null in an override means something: no contact that day; the cap removed; the state's row removed.
    override = {
        "label": "counsel-2027",
        "states": {
            "AL": {
                "hours": {
                    "default": {"start": "08:00", "end": "20:00"},
                    "days": {"sun": None},
                    "holidays": "us_federal",
                    "no_call_dates": ["2027-04-26"],
                    "source": AL_SOURCE,
                }
            },
            "FL": {"cap": None},
            "WA": None,
        },
    }
    path = tmp_path / "override.json"
    path.write_text(json.dumps(override), encoding="utf-8")
    published = run_json(stack, "calling", "set", str(path), "--actor", "dana")
    assert published["version"] == 1

    shown = run_json(stack, "calling", "show")
    assert shown["version"].endswith("+buyer@1+counsel-2027")
    states = shown["rules"]["states"]
    assert states["AL"]["hours"]["days"] == {"sun": None}
    assert states["AL"]["hours"]["no_call_dates"] == ["2027-04-26"]
    assert states["FL"]["cap"] is None and states["FL"]["hours"] is not None
    assert "WA" not in states

    # What the gate applies (the active version read back from the table): Alabama, a Sunday, no call.
    rules = in_force(CallingRuleStore(stack.leads.table).active())
    sunday = datetime(2027, 4, 25, 14, 0, tzinfo=CENTRAL)
    verdict = check_contact(rules, locate("AL", "35203", None), sunday, "call", [])
    assert (verdict.allowed, verdict.reason) == (False, ContactReason.OUTSIDE_CALLING_HOURS)
    assert verdict.next_allowed_at == datetime(2027, 4, 27, 8, 0, tzinfo=CENTRAL)  # Monday 26 April: state holiday
