"""The screening providers' simulators for the in-process stack: their keys as secrets in moto, a KMS key
for the sealed numbers, and the settings that turn the screens on (tests/conftest.py's ``screened``); and what
the screened stack did (its calls, its exchanges, the gate's answer)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tf_retainer.decisions.rules import RuleSet

from local.sims.blacklist_alliance import BlacklistAllianceSimulator
from local.sims.dncscrub import DncScrubSimulator
from local.sims.jornaya import JornayaSimulator
from local.sims.twilio_lookup import TwilioLookupSimulator

KEYS = {
    "blacklist_alliance": "bla-screen-key-0123456789abcdef",
    "dncscrub": "dnc-screen-key-0123456789abcdef",
    "twilio_lookup": "twl-screen-secret-0123456789abcdef",
    "jornaya": "jornaya-account-code-0123456789",
}
JORNAYA_AUDIT_KEY = "jornaya-audit-key-0123456789abcdef"
TWILIO_SID = "SK0123456789abcdef0123456789abcdef"
# Every screen on, each with the provider a buyer most likely holds (docs/providers.md).
ALL_SCREENS = {
    "litigator": "blacklist_alliance",
    "dnc": "dncscrub",
    "reassigned_number": "dncscrub",
    "phone": "twilio_lookup",
    "leadid": "jornaya",
}


@dataclass
class ScreenSims:
    blacklist_alliance: BlacklistAllianceSimulator
    dncscrub: DncScrubSimulator
    twilio_lookup: TwilioLookupSimulator
    jornaya: JornayaSimulator

    def all(self) -> list[Any]:
        return [self.blacklist_alliance, self.dncscrub, self.twilio_lookup, self.jornaya]

    def reset(self) -> None:
        """Scripts, logs, latency and each simulator's key (a test may have rotated it) as they started."""
        for sim in self.all():
            sim.reset()
            sim.latency = 0.0
        self.blacklist_alliance.api_keys = frozenset({KEYS["blacklist_alliance"]})
        self.dncscrub.api_keys = frozenset({KEYS["dncscrub"]})
        self.twilio_lookup.api_keys = frozenset({KEYS["twilio_lookup"]})
        self.jornaya.api_keys = frozenset({KEYS["jornaya"]})

    def calls(self, number: str) -> dict[str, int]:
        """The number's calls to each provider that screens numbers."""
        return {sim.NAME: sim.count(number) for sim in self.all() if sim is not self.jornaya}


def start_sims() -> ScreenSims:
    sims = ScreenSims(
        BlacklistAllianceSimulator(api_keys=(KEYS["blacklist_alliance"],)),
        DncScrubSimulator(api_keys=(KEYS["dncscrub"],)),
        TwilioLookupSimulator(api_keys=(KEYS["twilio_lookup"],)),
        JornayaSimulator(api_keys=(KEYS["jornaya"],), audit_keys=(JORNAYA_AUDIT_KEY,)),
    )
    for sim in sims.all():
        sim.start()
    return sims


def screening_env(sims: ScreenSims, secretsmanager: Any, kms: Any, screens: dict[str, str]) -> dict[str, str]:
    """Secrets and a KMS key in moto (inside the stack's mock), and the settings naming them."""
    env = {
        "SCREENS": ",".join(f"{screen}={provider}" for screen, provider in screens.items()),
        "CONTACT_KEY_ID": kms.create_key(Description="contact numbers")["KeyMetadata"]["KeyId"],
        "BLACKLIST_ALLIANCE_API_URL": sims.blacklist_alliance.base_url or "",
        "DNCSCRUB_API_URL": sims.dncscrub.base_url or "",
        "DNCSCRUB_DATA_API_URL": sims.dncscrub.base_url or "",
        "TWILIO_LOOKUP_API_URL": sims.twilio_lookup.base_url or "",
        "JORNAYA_API_URL": sims.jornaya.base_url or "",
    }
    values = {
        "blacklist_alliance": {"api_key": KEYS["blacklist_alliance"]},
        "dncscrub": {"api_key": KEYS["dncscrub"]},
        "twilio_lookup": {"api_key_sid": TWILIO_SID, "api_key_secret": KEYS["twilio_lookup"]},
        "jornaya": {"account_code": KEYS["jornaya"], "audit_key": JORNAYA_AUDIT_KEY},
    }
    for provider, value in values.items():
        name = f"test/{provider}-{datetime.now(UTC).timestamp()}"
        arn = secretsmanager.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
        env[f"{provider.upper()}_SECRET_ID"] = arn
    return env


def publish_rules(table_name: str, scope: str = "*", *, client: Any = None, **rules: Any) -> None:
    from tf_retainer.store.rule_sets import RuleStore

    RuleStore(table_name, client=client).publish(
        scope, RuleSet.model_validate(rules), actor="test", now=datetime.now(UTC)
    )


# --- what the screened in-process stack did (tests/integration/service: the screens, Jornaya) ----------


def tf_calls(stack, cert_id: str) -> int:
    return sum(1 for request in stack.sim.requests if request["cert_id"] == cert_id)


def screen_exchanges(stack, lead_id: str) -> list[dict[str, Any]]:
    return [x for x in stack.reader.read_lead(lead_id).exchanges if x.get("provider")]


def chain_calls(stack, lead_id: str) -> list[dict[str, Any]]:
    record = stack.reader.read_lead(lead_id)
    from tf_retainer.domain import chain

    entries = [chain.parse(link.content) for link in record.chain]
    return [call for entry in entries for call in entry.calls]


def gate(stack, lead_id: str) -> dict[str, Any]:
    response = stack.gateway.handle("GET", f"/leads/{lead_id}/contactable", {"x-api-key": stack.vendor_key}, b"")
    assert response.status == 200, response.json()
    return response.json()


def later(monkeypatch, by: timedelta) -> datetime:
    from tf_retainer.wiring import default_deps

    moment = datetime.now(UTC) + by
    monkeypatch.setattr(default_deps(), "clock", lambda: moment)
    return moment


def deliver(stack) -> list[str]:
    """The next retry messages (a second or two away), through the retry use case."""
    from tf_retainer.domain.retry_message import RetryMessage
    from tf_retainer.leads import retry
    from tf_retainer.wiring import default_deps

    outcomes = []
    for message in stack.next_retry_messages():
        outcomes.append(retry.retry_lead(default_deps(), RetryMessage.model_validate_json(message["Body"])))
        stack.sqs.delete_message(QueueUrl=stack.provisioned.retry_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return outcomes
