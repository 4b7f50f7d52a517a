"""The screening providers' simulators for the in-process stacks (the ``screened`` fixture of tests/conftest.py,
the concurrency suite's screens), the environment of a deployment choosing them (provisioned by
local.backend as the local stack's LOCAL_SCREENS is: their template parameters, their keys' secrets, the
contact key), and what the screened stack did (its calls, its exchanges, the gate's answer)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tf_retainer.decisions.rules import RuleSet

from local.backend import HOST, Backend
from local.providers import (
    LOCAL_JORNAYA_AUDIT_KEY,
    LOCAL_TWILIO_SID,
    PROVIDER_SIMS,
    LocalProviders,
    provider_key,
    start_simulators,
)
from local.sims.blacklist_alliance import BlacklistAllianceSimulator
from local.sims.dncscrub import DncScrubSimulator
from local.sims.jornaya import JornayaSimulator
from local.sims.twilio_lookup import TwilioLookupSimulator

# What each provider's simulator accepts, as its secret holds it (local/providers.py).
KEYS = {provider: provider_key(provider) for provider in PROVIDER_SIMS}
JORNAYA_AUDIT_KEY = LOCAL_JORNAYA_AUDIT_KEY
TWILIO_SID = LOCAL_TWILIO_SID
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

    def by_provider(self) -> dict[str, Any]:
        return {provider: getattr(self, provider) for provider in PROVIDER_SIMS}

    def reset(self) -> None:
        """Scripts, logs, latency and each simulator's key (a test may have rotated it) as they started."""
        for provider, sim in self.by_provider().items():
            sim.reset()
            sim.latency = 0.0
            sim.api_keys = frozenset({KEYS[provider]})

    def calls(self, number: str) -> dict[str, int]:
        """The number's calls to each provider that screens numbers."""
        return {sim.NAME: sim.count(number) for sim in self.all() if sim is not self.jornaya}

    def stop(self) -> None:
        for sim in self.all():
            sim.stop()


def start_sims() -> ScreenSims:
    """Every provider's simulator on 127.0.0.1, as the local stack starts those it is asked for."""
    return ScreenSims(**start_simulators(PROVIDER_SIMS, HOST))


def screening_env(
    backend: Backend, sims: ScreenSims, screens: dict[str, str], settings: dict[str, str] | None = None
) -> dict[str, str]:
    """The functions' environment on ``backend`` with ``screens`` (screen -> provider) answered by ``sims``:
    its resources provisioned again as a deployment choosing them (parameters, secrets), then ``settings``."""
    return backend.screened_environment(LocalProviders.of(screens, sims.by_provider()), settings)


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
