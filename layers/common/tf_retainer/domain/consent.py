"""The shapes of consent that cross the API: a revocation as posted (alone, or a batch from an SMS
platform's STOP stream) and as answered, and a contact report from a dialer or a CRM."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from tf_retainer.domain.contact_fields import EmailAddress, PhoneNumber
from tf_retainer.domain.contacts import CHANNELS, Channel
from tf_retainer.domain.models import FieldError, Reason
from tf_retainer.domain.revocation import ALL_BRANDS, Via

ClientId = StrictStr
# History events in a lead's chain: a contact reported for it, a revocation applied to it (published).
CONTACT_EVENT = "contact"
CONSENT_REVOKED_EVENT = "consent_revoked"
MAX_BATCH = 100
MAX_MESSAGE = 1600  # ten concatenated SMS segments


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


class RevocationRequest(BaseModel):
    """A consumer's revocation of consent, as the buyer's systems (or a vendor, for its own leads) post it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: ClientId = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Your id for this revocation (e.g. the SMS platform's message id): posting it again changes "
        "nothing; the same id with other content is 409 revocation_id_conflict.",
    )
    phone: PhoneNumber = Field(default=None, max_length=32, description="The consumer's phone, any spelling.")
    email: EmailAddress = Field(default=None, max_length=254, description="The consumer's email.")
    expressed_at: AwareDatetime | None = Field(
        default=None, description="When the consumer expressed it (with its UTC offset); default: when received."
    )
    via: Via = Field(default="other", description="How it came: sms, email, web, agent, phone, mail or other.")
    brand: StrictStr = Field(
        default=ALL_BRANDS, min_length=1, max_length=128, description="`all`, or the one brand/advertiser it names."
    )
    channels: list[Channel] = Field(
        default_factory=lambda: list(CHANNELS), min_length=1, description="What it stops: call, text, email."
    )
    message: StrictStr | None = Field(
        default=None, max_length=MAX_MESSAGE, description="The consumer's words, as received (kept as evidence)."
    )

    @field_validator("channels")
    @classmethod
    def _once_each(cls, value: list[Channel]) -> list[Channel]:
        return [channel for channel in CHANNELS if channel in value]

    @model_validator(mode="before")
    @classmethod
    def _names_a_consumer(cls, data: Any) -> Any:
        """Refused on the ``phone`` field (an error the caller can place), not on the whole body."""
        if isinstance(data, dict) and not any(_given(data.get(name)) for name in ("phone", "email")):
            missing = PydanticCustomError("missing_consumer", "phone or email is required: whose consent is withdrawn")
            raise ValidationError.from_exception_data(
                cls.__name__, [InitErrorDetails(type=missing, loc=("phone",), input=data)]
            )
        return data


class RevocationBatch(BaseModel):
    """Many revocations at once (an SMS platform's STOP stream): each recorded or refused on its own."""

    model_config = ConfigDict(extra="forbid")

    revocations: list[dict[str, object]] = Field(min_length=1, max_length=MAX_BATCH)


class RevocationAnswer(BaseModel):
    """What recording a revocation did."""

    id: str | None = Field(default=None, description="Your id for it.")
    revocation_id: str | None = Field(default=None, description="Ours.")
    status: Literal["recorded", "repeated", "refused"]
    reason: Reason | None = None
    detail: str | None = None
    errors: list[FieldError] | None = None
    expressed_at: str | None = None
    recorded_at: str | None = None
    honor_by: str | None = Field(default=None, description="The legal deadline: ten business days (FCC).")
    honored_at: str | None = Field(
        default=None,
        description="When every lead of the consumer got it in its evidence (the gate closes at once, when it is "
        "recorded); null while that is still under way.",
    )
    leads: int | None = Field(default=None, description="Leads of the consumer it was applied to.")


class BatchAnswer(BaseModel):
    results: list[RevocationAnswer]


class ContactReport(BaseModel):
    """A contact the buyer's dialer or CRM made (or tried): counted by the frequency caps, kept as evidence."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel: Channel
    at: AwareDatetime | None = Field(default=None, description="When (with its UTC offset); default: when received.")
    outcome: Literal[
        "answered", "no_answer", "busy", "voicemail", "failed", "sent", "delivered", "undelivered", "other"
    ] = "other"
    brand: StrictStr | None = Field(default=None, min_length=1, max_length=128)
    contact_id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Your id for the contact: reporting it again records nothing more.",
    )


class ContactAnswer(BaseModel):
    lead_id: str
    contact_id: str | None = None
    recorded: bool = Field(description="False when this contact_id was reported before.")
    channel: Channel
    at: str
    contacts_24h: int = Field(description="Contacts of the lead on this channel in the 24 hours before `at`.")
