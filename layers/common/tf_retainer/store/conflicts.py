"""How DynamoDB says no, and what the store makes of it: conditions that failed (a duplicate, a taken
certificate, a stale attempt) and transactions cancelled by a concurrent one (tried again)."""

from __future__ import annotations

import functools
import inspect
import random
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from tf_retainer.domain.lead import Lead
from tf_retainer.ports.leads import DuplicateLead, StoreUnavailable
from tf_retainer.store.codec import deserialize
from tf_retainer.store.lead_item import LeadCodec

T = TypeVar("T")
C = TypeVar("C")
P = ParamSpec("P")
# What DynamoDB answers when it is busy or briefly down, rather than "no": the client's own retries
# (wiring: a few, standard mode) and ours have run out by the time one of these reaches a use case.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
# What botocore raises when DynamoDB could not be reached or its answer never came (a read timeout, a
# connection reset or refused), after its own retries: a write may or may not have been applied.
UNREACHABLE = (ConnectionError, HTTPClientError)
# DynamoDB cancels a transaction that touches an item another transaction is writing, and refuses a
# single-item write to it; botocore does not retry either. The other writer finishes in milliseconds.
CONFLICT_RETRIES = 4
CONFLICT_BACKOFF_SECONDS = 0.025


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def cancellation_codes(exc: ClientError) -> list[str | None]:
    """One code per item of a cancelled transaction (None where the item was not the cause)."""
    if error_code(exc) != "TransactionCanceledException":
        return []
    return [
        reason.get("Code") if reason.get("Code") != "None" else None
        for reason in exc.response.get("CancellationReasons") or []
    ]


def is_conflict(exc: ClientError) -> bool:
    """Another transaction was writing one of the items; nothing else went wrong."""
    if error_code(exc) == "TransactionConflictException":
        return True
    codes = [code for code in cancellation_codes(exc) if code]
    return bool(codes) and all(code == "TransactionConflict" for code in codes)


def retry_conflicts(call: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run a DynamoDB write, again after a short jittered pause while a concurrent transaction holds an item."""
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            return call()
        except ClientError as exc:
            if attempt == CONFLICT_RETRIES or not is_conflict(exc):
                raise
            sleep(CONFLICT_BACKOFF_SECONDS * 2**attempt * (0.5 + random.random()))
    raise AssertionError("unreachable")


def unavailable_when_transient(method: Callable[P, T]) -> Callable[P, T]:
    """A store method whose busy-table failures reach the use case as StoreUnavailable (a port error it
    can act on without knowing DynamoDB), and whose refusals (a failed condition) stay ClientErrors. An
    unreachable table is unavailable too: a write whose answer was lost may have been applied, which
    leaves the lead as a crash at that point would (the sweeper's to recover)."""

    @functools.wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except ClientError as exc:
            if error_code(exc) in TRANSIENT_CODES or is_conflict(exc):
                raise StoreUnavailable(f"{method.__name__}: {error_code(exc)}") from exc
            raise
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"{method.__name__}: {type(exc).__name__}") from exc

    return guarded


def all_unavailable_when_transient(cls: type[C]) -> type[C]:
    """A store class each of whose public methods is ``unavailable_when_transient`` (a reader's: every
    one of them may meet a busy or unreachable table)."""
    for name, member in list(vars(cls).items()):
        if inspect.isfunction(member) and not name.startswith("_"):
            setattr(cls, name, unavailable_when_transient(member))
    return cls


def failed_item(exc: ClientError, index: int) -> dict[str, Any] | None:
    """The item whose condition failed at ``index`` of a cancelled transaction (ALL_OLD), or None."""
    codes = cancellation_codes(exc)
    if index < len(codes) and codes[index] == "ConditionalCheckFailed":
        return deserialize(exc.response["CancellationReasons"][index].get("Item") or {})
    return None


def refused_item(exc: ClientError) -> dict[str, Any] | None:
    """The item whose condition failed a single-item write (ALL_OLD), or None."""
    if error_code(exc) != "ConditionalCheckFailedException":
        return None
    return deserialize(exc.response.get("Item") or {})


def own_write(stored: dict[str, Any] | None, codec: LeadCodec, lead: Lead) -> bool:
    """A state put failed on this very lead (``stored``): a write DynamoDB applied whose answer was lost (a
    read timeout), sent again by the client. Told by what only this post has: the instant it was received
    (microseconds) and its content."""
    if not stored:
        return False
    found = codec.lead(stored)
    return (found.received_at, found.payload_hash) == (lead.received_at, lead.payload_hash)


def duplicate_of(stored: dict[str, Any] | None, codec: LeadCodec, lead: Lead) -> DuplicateLead | None:
    """A state put failed on ``stored``: a lead of that id exists (a vendor's lead id sent again, which names
    the same lead): whether it was posted with the same content."""
    if not stored:
        return None
    first = codec.lead(stored)
    return DuplicateLead(lead_id=first.lead_id, same_payload=first.payload_hash == lead.payload_hash)
