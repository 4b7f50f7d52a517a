"""DynamoDB's throttling waited out, within a call's time bound.

A throttled request is answered at once and changes nothing; DynamoDB asks that it be sent again after a
short, growing, jittered pause. The functions' client makes two attempts at most (wiring.bounded: the
slowest call, two read timeouts, stays within ``remote_call_seconds``), so one throttled retry was all a
request got. Under the local stack's fault mode (throttle:0.05) that showed: a reservation throttled twice
answered the vendor 502, and an outcome whose write was throttled twice lost TrustedForm's answer (the
request on record, the lead retried, the certificate retained again). A throttled answer costs no wait,
so here a throttled call is sent again, after 20 ms doubling to 250 ms (jittered), for as long as the
call's bound allows; past it, botocore's own decision stands.
"""

from __future__ import annotations

import random
import time
from typing import Any

THROTTLING = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
FIRST_PAUSE_SECONDS = 0.02
LONGEST_PAUSE_SECONDS = 0.25
_STARTED = "tf_retainer_call_started"


def wait_out_throttling(client: Any, *, within_seconds: float) -> Any:
    """Make ``client`` (a DynamoDB client) send a throttled call again while ``within_seconds`` of the
    call's start allow another pause and attempt. Returns the client."""

    def started(context: dict[str, Any], **_: Any) -> None:
        context[_STARTED] = time.monotonic()

    def again(
        response: tuple[Any, dict[str, Any]] | None = None,
        attempts: int = 1,
        request_dict: dict[str, Any] | None = None,
        **_: Any,
    ) -> float | None:
        if response is None or response[1].get("Error", {}).get("Code") not in THROTTLING:
            return None  # not throttled (or no answer): botocore decides
        since = (request_dict or {}).get("context", {}).get(_STARTED)
        pause = min(LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
        if since is None or time.monotonic() + pause - since > within_seconds:
            return None
        return pause

    client.meta.events.register("before-call.dynamodb", started)
    client.meta.events.register_first("needs-retry.dynamodb", again)
    return client
