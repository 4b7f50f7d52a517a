"""The rules in force for a vendor: the deployment's settings, overlaid by the stored default rule set,
overlaid by the vendor's own; cached for a short while (intake reads them on every lead)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from tf_retainer.decisions.rules import Rule, RuleSet
from tf_retainer.runtime.settings import Settings

SETTINGS_ONLY = "settings"  # no stored rule set: the deployment's policies alone
DEFAULT_SCOPE = "*"  # the default rule set's scope; any other scope is a vendor's name


@dataclass(frozen=True, slots=True)
class RuleSetVersion:
    """One immutable version of a rule set, as published."""

    scope: str  # a vendor, or DEFAULT_SCOPE
    version: int
    rules: RuleSet
    created_at: str
    actor: str

    @property
    def label(self) -> str:
        return f"{'default' if self.scope == DEFAULT_SCOPE else self.scope}@{self.version}"


class RuleSetVersions(Protocol):
    """Where the active version of each scope's rule set is read from (store/rule_sets.py)."""

    def active(self, scope: str) -> RuleSetVersion | None: ...


@dataclass(frozen=True, slots=True)
class RulesInForce:
    rules: RuleSet
    version: str  # which stored versions decided, e.g. "default@3+acme@1", or "settings"


def from_settings(settings: Settings) -> RuleSet:
    """The policies the deployment's parameters set, as rules (the base every stored rule set overlays)."""
    return RuleSet(
        masked_refused=Rule(mode="enforce" if settings.masked_certificate_policy == "refuse" else "off"),
        lead_match=Rule(mode="enforce" if settings.lead_match_policy == "reject" else "off"),
        certificate_reuse=settings.certificate_reuse_policy,
    )


class RuleBook:
    def __init__(self, versions: RuleSetVersions, settings: Settings) -> None:
        self._versions = versions
        self._settings = settings
        self._cache: dict[str, tuple[float, RulesInForce]] = {}
        self._lock = threading.Lock()

    def __call__(self, vendor: str) -> RulesInForce:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(vendor)
        if cached and now - cached[0] < self._settings.rules_cache_seconds:
            return cached[1]
        in_force = self._load(vendor)
        with self._lock:
            self._cache[vendor] = (now, in_force)
        return in_force

    def _load(self, vendor: str) -> RulesInForce:
        rules, labels = from_settings(self._settings), []
        for scope in (DEFAULT_SCOPE, vendor):
            stored = self._versions.active(scope)
            if stored is not None:
                rules = stored.rules.over(rules)
                labels.append(stored.label)
        return RulesInForce(rules, "+".join(labels) or SETTINGS_ONLY)
