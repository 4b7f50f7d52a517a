"""Screen answers a dead caller put on record and never applied or shared: taken from its chain, never asked
(and paid for) again. A caller's answer goes into its lead's chain (with what it found, ``screened``) before it
is shared with the other leads of the number (screen_asks); a process killed between the two leaves it there.

* the lead's own next attempt reads it from the entries after the state's step (``recovered``);
* another lead that takes over the number's lapsed lease (no answer shared) reads the dead holder's lead
  (the lease names it) for it, and shares it (``holders_answer``): two reads, only on that path.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from tf_retainer.domain.lead import Lead
from tf_retainer.domain.screens import ScreenResult, answered_in
from tf_retainer.leads.deps import Deps
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.ports.screening import ResultKey
from tf_retainer.runtime.clock import parse_iso
from tf_retainer.runtime.observability import logger


def recovered(deps: Deps, lead: Lead) -> dict[str, ScreenResult]:
    """The screens answered at an earlier attempt of ``lead`` whose step was never recorded."""
    found = answered_in(deps.reader.unapplied_events(lead))
    if found:
        logger.info(
            "screen answers recovered from the chain", extra={"lead_id": lead.lead_id, "screens": sorted(found)}
        )
    return found


def holders_answer(
    deps: Deps, holder: str | None, key: ResultKey, fresh_after: datetime, owner: str, expires: int
) -> ScreenResult | None:
    """The answer the lapsed lease's ``holder`` put on record before it died (naming the call's lead), if one is
    no older than ``fresh_after``, shared now by the lease's new ``owner`` (kept until ``expires``); None when
    there is none."""
    holder_id = (holder or "").partition("/")[0]
    lead = deps.reader.get_lead(holder_id) if holder_id else None
    if lead is None:
        return None
    known = {**(lead.screens or {}), **answered_in(deps.reader.unapplied_events(lead))}
    found = known.get(key.screen.value)
    if found is None or not found.answered or found.consent_date != key.consent_date:
        return None
    if parse_iso(found.checked_at) < fresh_after:
        return None
    logger.info("screen answer taken from a dead caller's chain", extra={"screen": key.screen.value})
    found = found if found.source_lead_id else found.model_copy(update={"source_lead_id": lead.lead_id})
    if deps.screening is not None:
        with contextlib.suppress(StoreUnavailable):  # shared for the next leads too; the lease released
            deps.screening.results.store(key, found, owner=owner, expires=expires)
    return found
