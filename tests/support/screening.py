"""The screening providers' simulators for the in-process stack: their keys as secrets in moto, a KMS key
for the sealed numbers, and the settings that turn the screens on (tests/conftest.py's ``screened``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
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
