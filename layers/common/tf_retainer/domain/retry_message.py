"""The retry queue's message: one more attempt for a lead, not before a moment.

One model for every writer (intake, the retry worker, the sweeper, the operator CLI's requeue) and the reader.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# SQS delays stop at 15 minutes: a longer wait is made of several hops (the retry worker sends the
# message on until its ``not_before``), and callback backoff is capped there.
SQS_MAX_DELAY_SECONDS = 900


class RetryMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    lead_id: str = Field(min_length=1, max_length=128)
    attempt: int = Field(ge=1)
    not_before: AwareDatetime
