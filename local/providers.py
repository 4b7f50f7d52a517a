"""The screening providers and Jornaya in the local stack: ``LOCAL_SCREENS`` (the functions' SCREENS form,
e.g. ``leadid=jornaya,dnc=dncscrub``) starts each named provider's simulator (local/sims/) on 127.0.0.1 and
gives provisioning the template parameters a deployment would set (who answers each screen, each provider's
URL: the simulator) and each chosen provider's secret value (the simulator's keys). Off by default: the
local stack, like a deployment, screens nothing until told to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tf_retainer.runtime.screening_settings import SCREEN_PROVIDERS, parse_screens

# The template parameter that chooses each screen's provider.
SCREEN_PARAMETERS = {
    "litigator": "LitigatorScreen",
    "dnc": "DncScreen",
    "reassigned_number": "ReassignedNumberScreen",
    "phone": "PhoneScreen",
    "leadid": "LeadidScreen",
}
# Readable on purpose: they exist only in the local moto server and the local simulators.
LOCAL_KEY = "local-{}-key"
LOCAL_TWILIO_SID = "SK00000000000000000000000000000000"
LOCAL_JORNAYA_AUDIT_KEY = "local-jornaya-audit-key"


@dataclass(frozen=True)
class ProviderSim:
    simulator: str  # "module:Class" under local.sims
    url_parameters: tuple[str, ...]  # the template parameters naming its API URL(s)
    secret: str  # the logical id of its key's secret
    secret_value: Callable[[str], dict[str, str]]
    options: Callable[[], dict[str, Any]] = dict


PROVIDER_SIMS = {
    "blacklist_alliance": ProviderSim(
        "blacklist_alliance:BlacklistAllianceSimulator",
        ("BlacklistAllianceApiUrl",),
        "BlacklistAllianceApiKeySecret",
        lambda key: {"api_key": key},
    ),
    "dncscrub": ProviderSim(
        "dncscrub:DncScrubSimulator",
        ("DncScrubApiUrl", "DncScrubDataApiUrl"),
        "DncScrubApiKeySecret",
        lambda key: {"api_key": key},
    ),
    "twilio_lookup": ProviderSim(
        "twilio_lookup:TwilioLookupSimulator",
        ("TwilioLookupApiUrl",),
        "TwilioLookupApiKeySecret",
        lambda key: {"api_key_sid": LOCAL_TWILIO_SID, "api_key_secret": key},
    ),
    "jornaya": ProviderSim(
        "jornaya:JornayaSimulator",
        ("JornayaApiUrl",),
        "JornayaApiKeySecret",
        lambda key: {"account_code": key, "audit_key": LOCAL_JORNAYA_AUDIT_KEY},
        lambda: {"audit_keys": (LOCAL_JORNAYA_AUDIT_KEY,)},
    ),
}


def provider_key(provider: str) -> str:
    """The key a provider's local simulator accepts (its secret's value names it)."""
    return LOCAL_KEY.format(provider)


@dataclass
class LocalProviders:
    """The chosen providers' simulators, running, and what provisioning needs of them."""

    screens: dict[str, str] = field(default_factory=dict)
    simulators: dict[str, Any] = field(default_factory=dict)  # provider -> its running simulator
    parameters: dict[str, str] = field(default_factory=dict)  # template parameters
    secret_values: dict[str, dict[str, str]] = field(default_factory=dict)  # secret logical id -> value

    @classmethod
    def of(cls, screens: Mapping[str, str], simulators: Mapping[str, Any]) -> LocalProviders:
        """A deployment whose ``screens`` (screen -> provider) are answered by these running simulators
        (provider -> simulator, each accepting :func:`provider_key`): the template parameters choosing and
        pointing at them, their keys' secret values."""
        chosen = cls(screens=dict(screens))
        for screen, provider in screens.items():
            chosen.parameters[SCREEN_PARAMETERS[screen]] = provider
            if provider in chosen.simulators:
                continue
            described, sim = PROVIDER_SIMS[provider], simulators[provider]
            chosen.simulators[provider] = sim
            chosen.parameters.update({parameter: sim.base_url or "" for parameter in described.url_parameters})
            chosen.secret_values[described.secret] = described.secret_value(provider_key(provider))
        return chosen

    @property
    def urls(self) -> dict[str, str]:
        return {name: sim.base_url or "" for name, sim in self.simulators.items()}

    def stop(self) -> None:
        for sim in self.simulators.values():
            sim.stop()
        self.simulators.clear()


def start_simulators(providers: Iterable[str], host: str) -> dict[str, Any]:
    """Each provider's simulator started on ``host`` (a free port), accepting its :func:`provider_key`."""
    import importlib

    started: dict[str, Any] = {}
    try:
        for provider in providers:
            described = PROVIDER_SIMS[provider]
            module, _, name = described.simulator.partition(":")
            simulator_class = getattr(importlib.import_module(f"local.sims.{module}"), name)
            sim = simulator_class(host=host, port=0, api_keys=(provider_key(provider),), **described.options())
            sim.start()
            started[provider] = sim
    except BaseException:
        for sim in started.values():
            sim.stop()
        raise
    return started


def chosen_screens(spec: str) -> dict[str, str]:
    """``LOCAL_SCREENS`` read as SCREENS is; ValueError naming what is wrong."""
    screens = parse_screens(spec)
    if not isinstance(screens, dict):
        raise ValueError("not screen=provider pairs")
    for screen, provider in screens.items():
        if screen not in SCREEN_PROVIDERS:
            raise ValueError(f"unknown screen {screen!r} (known: {', '.join(SCREEN_PROVIDERS)})")
        if provider not in SCREEN_PROVIDERS[screen]:
            raise ValueError(f"{screen} is answered by {' or '.join(SCREEN_PROVIDERS[screen])}")
    return screens


def start_providers(spec: str, host: str) -> LocalProviders:
    """Each provider ``spec`` names, its simulator started on ``host`` (a free port), with the template
    parameters and the secret values that point the functions at it."""
    screens = chosen_screens(spec)
    return LocalProviders.of(screens, start_simulators(dict.fromkeys(screens.values()), host))
