"""Domain errors the handlers map to HTTP answers."""

from __future__ import annotations

from .models import FieldError, LeadAnswer, Reason, Status


class InputRejected(Exception):
    """Bad input: answered with a 4xx and a reason; nothing was stored or sent."""

    def __init__(self, http_status: int, reason: Reason, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.http_status = http_status
        self.reason = reason
        self.detail = detail
        self.errors = errors

    def answer(self) -> LeadAnswer:
        return LeadAnswer(status=Status.REJECTED, reason=self.reason, detail=self.detail, errors=self.errors)
