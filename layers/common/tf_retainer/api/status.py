"""The one table from what happened to a lead (or why input was refused) to an HTTP status."""

from __future__ import annotations

from tf_retainer.domain.errors import InputRejected
from tf_retainer.domain.models import LeadAnswer, Reason, Status

ANSWER_STATUS = {
    Status.RETAINED: 201,
    Status.PENDING: 202,
    Status.RECEIVED: 202,
    Status.REJECTED: 422,
    Status.EXPIRED: 422,
}
REFUSAL_STATUS = {
    Reason.PAYLOAD_TOO_LARGE: 413,
    Reason.UNSUPPORTED_MEDIA_TYPE: 415,
    Reason.LEAD_ID_CONFLICT: 409,
    Reason.LEAD_NOT_FOUND: 404,
    Reason.UNKNOWN_VENDOR_KEY: 401,
    Reason.VENDOR_KEY_REVOKED: 403,
    Reason.NOT_A_VENDOR_KEY: 403,
    Reason.REVOCATION_ID_CONFLICT: 409,
    Reason.CONSUMER_NOT_FOUND: 404,
}
MALFORMED_STATUS = 400  # a body that cannot be read at all
REFUSED_STATUS = 422  # read, and not a valid lead
ROUTE_NOT_FOUND_STATUS = 404
# The table (or the consumer key) did not answer in time: what was sent may or may not be kept, and sending
# it again is safe (a repeat is answered, never taken twice). Seconds before trying again: the store's
# own retries have just run out, a busy table settles in seconds.
UNAVAILABLE_STATUS = 503
RETRY_AFTER_SECONDS = 5


def answer_status(answer: LeadAnswer) -> int:
    if answer.status is None:
        raise ValueError("an answer about a lead always has its status")
    return ANSWER_STATUS[answer.status]


def refusal_status(error: InputRejected) -> int:
    if error.malformed:
        return MALFORMED_STATUS
    return REFUSAL_STATUS.get(error.reason, REFUSED_STATUS)
