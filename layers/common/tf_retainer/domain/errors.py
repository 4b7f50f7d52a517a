"""Domain errors the HTTP adapter (api.py) maps to answers."""

from __future__ import annotations

from tf_retainer.domain.models import FieldError, LeadAnswer, Reason, Status


class InputRejected(Exception):
    """Bad input: answered with a 4xx and a reason; nothing was stored or sent.

    ``malformed``: the body could not be read at all (not UTF-8, not JSON), as opposed to read and refused.
    ``lead_status``: what the answer says of the lead: rejected for a submission, none for a lookup.
    """

    def __init__(
        self,
        reason: Reason,
        detail: str,
        errors: list[FieldError] | None = None,
        *,
        malformed: bool = False,
        lead_status: Status | None = Status.REJECTED,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.errors = errors
        self.malformed = malformed
        self.lead_status = lead_status

    def answer(self) -> LeadAnswer:
        return LeadAnswer(status=self.lead_status, reason=self.reason, detail=self.detail, errors=self.errors)


def missing_certificate_url() -> InputRejected:
    """A lead without a certificate URL where one is required: refused naming the field, as pydantic would."""
    missing = [FieldError(field="trustedform_cert_url", message="Field required")]
    return InputRejected(Reason.INVALID_CERTIFICATE_URL, "the lead is not valid", missing)
