"""Whether a consumer's revocation of consent covers a contact (pure: the call gate and the revocation's
fan-out ask the same question), by when it must be honoured, and the words that revoke by themselves.

A revocation covers a contact when:

- it covers the contact's channel (a revocation of calls leaves emails alone) and brand (``all``, or the
  brand asked about; a question that names no brand is covered by every brand's revocation);
- the lead's consent was not given after it: a lead whose certificate TrustedForm says was created after the
  revocation was expressed is a new consent, and only that lead is open again. A certificate whose creation
  time is unknown (TrustedForm reports it only when asked: insights ``created_at``) counts as given before:
  a lead sent after a revocation on an old certificate must not reopen the gate.

From the revoke-all date (``decisions/data/consent.json``: 31 January 2027), a revocation of calls or texts
covers both, for every brand of the caller, whenever it was recorded.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from tf_retainer.decisions.holidays import honor_by
from tf_retainer.decisions.location import load
from tf_retainer.domain.contacts import Channel
from tf_retainer.domain.lead import Lead
from tf_retainer.domain.revocation import ALL_BRANDS, Notice
from tf_retainer.runtime.clock import parse_iso

# Business days are counted on the calendar of Washington, D.C. (the FCC's), whatever zone a time was sent in.
CALENDAR = ZoneInfo("America/New_York")
_SPACES = re.compile(r"[\s\W_]+")


class RevokeAll(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    from_: date
    channels: tuple[Channel, ...]
    source: str


class ConsentRules(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str
    revoke_all: RevokeAll
    opt_out_words: tuple[str, ...]


@lru_cache(maxsize=1)
def consent_rules() -> ConsentRules:
    """The shipped data (``decisions/data/consent.json``)."""
    data = load("consent.json")
    revoke_all = RevokeAll.model_validate({**data["revoke_all"], "from_": data["revoke_all"]["from"]})
    return ConsentRules(version=data["version"], revoke_all=revoke_all, opt_out_words=data["opt_out_words"]["words"])


def revoke_all_in_force(now: datetime, rules: ConsentRules | None = None) -> bool:
    """Whether the revoke-all rule applies at ``now`` (from midnight starting its day, Eastern time)."""
    rules = rules or consent_rules()
    return now >= datetime.combine(rules.revoke_all.from_, time(0), tzinfo=CALENDAR)


def covers(
    notice: Notice,
    *,
    channel: Channel,
    brand: str | None,
    consent_at: datetime | None,
    now: datetime,
    rules: ConsentRules | None = None,
) -> bool:
    """Whether this revocation forbids contacting a lead (its consent given at ``consent_at``, None when
    unknown) on ``channel`` for ``brand`` (None: not said) at ``now``."""
    rules = rules or consent_rules()
    if consent_at is not None and consent_at > parse_iso(notice.expressed_at):
        return False  # consent given again, on a certificate made after the revocation
    channels, scoped_brand = set(notice.scope.channels), notice.scope.brand
    revoke_all = set(rules.revoke_all.channels)
    if revoke_all_in_force(now, rules) and channels & revoke_all:
        channels |= revoke_all
        scoped_brand = ALL_BRANDS
    if channel not in channels:
        return False
    return scoped_brand == ALL_BRANDS or brand is None or brand.casefold() == scoped_brand.casefold()


def first_covering(
    notices: list[Notice],
    *,
    channel: Channel,
    brand: str | None,
    consent_at: datetime | None,
    now: datetime,
) -> Notice | None:
    """The earliest expressed revocation that covers the contact, if any."""
    ordered = sorted(notices, key=lambda notice: (notice.expressed_at, notice.revocation_id))
    return next((n for n in ordered if covers(n, channel=channel, brand=brand, consent_at=consent_at, now=now)), None)


def consent_time(lead: Lead) -> datetime | None:
    """When the lead's consent was given, as far as is known: its certificate's creation (TrustedForm's
    ``created_at``), or None."""
    return parse_iso(lead.created_at) if lead.created_at else None


def applies_to_lead(notice: Notice, *, consent_at: datetime | None) -> bool:
    """Whether a revocation concerns a lead at all (its consent was not given after it): the fan-out writes
    ``consent_revoked`` in the chain of every such lead of the consumer, whatever the scope."""
    return consent_at is None or consent_at <= parse_iso(notice.expressed_at)


def honour_deadline(expressed_at: datetime) -> datetime:
    """When a revocation expressed at ``expressed_at`` must be honoured by: ten business days, counted on
    the Eastern calendar (``holidays.honor_by``)."""
    return honor_by(expressed_at.astimezone(CALENDAR))


def is_opt_out_word(message: str | None) -> bool:
    """A reply that is one of the words revoking consent by themselves ("STOP", "Opt-out", "unsubscribe.")."""
    if not message:
        return False
    plain = _SPACES.sub(" ", message.casefold()).strip()
    return plain in {word.casefold() for word in consent_rules().opt_out_words}
