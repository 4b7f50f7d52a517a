"""The in-process test stack (the ``stack`` fixture of tests/conftest.py) and the leads tests post.

:class:`Stack` is a :class:`local.backend.Backend` with moto in this process (``mock_aws``, fresh for each
test), the session's TrustedForm simulator over HTTP, and the local API Gateway in front of the real
authorizer and handlers.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from local.backend import REGION, Backend
from local.simulator import make_web_cert_id

if TYPE_CHECKING:
    from local.simulator import TrustedFormSimulator

TF_API_KEY = "tf-test-key-0123456789abcdef"
VENDOR = "acme-leads"
EMAIL = "Jane.Doe@Example.com"
PHONE = "(512) 555-1212"
PHONE_DIGITS = "5125551212"  # as the service normalises it

# A pending lead's retry message is visible about a second later (the deployed delays are minutes).
FAST_RETRIES = {
    "RETRY_BASE_SECONDS": "1",
    "RETRY_CAP_SECONDS": "2",
    "ACCOUNT_ERROR_DELAY_SECONDS": "1",
    "RULES_CACHE_SECONDS": "0",  # a rule set a test publishes applies to its next lead
}


def lead(cert_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A good lead, with a fresh web certificate unless one is given."""
    body = {
        "trustedform_cert_url": f"https://cert.trustedform.com/{cert_id or make_web_cert_id()}",
        "email": EMAIL,
        "phone": PHONE,
    }
    body.update(fields)
    return body


def aws_client(service: str) -> Any:
    """One client per service for the whole run: moto intercepts it inside every mock_aws() context."""
    from local.provision import aws_client as client

    return client(service, REGION, None)


class Stack(Backend):
    """The service in-process: moto AWS (``mock_aws``), the session's simulator, and the local API Gateway
    in front of the real handlers (``gateway``, set once the functions' environment is)."""

    def __init__(self, simulator: TrustedFormSimulator) -> None:
        super().__init__(TF_API_KEY, moto="in-process", simulator=simulator)
        self.sim: TrustedFormSimulator = simulator
        self.gateway: Any = None
        self.env: dict[str, str] = {}
        self.vendor_key = ""
        self.screen_sims: Any = None  # the screening providers' simulators, with the ``screened`` fixture

    def lead_state(self, lead_id: str) -> dict[str, Any] | None:
        """The lead as stored (typed read), as a JSON-like dict."""
        found = self.reader.get_lead(lead_id)
        return found.model_dump(mode="json", exclude_none=True) if found else None

    @cached_property
    def vendor_keys(self) -> Any:
        from tf_retainer.store.vendor_keys import VendorKeyStore

        return VendorKeyStore(self.resources.table_name, client=self.dynamodb)

    def post(
        self,
        payload: Any,
        *,
        form: bool = False,
        key: str | None = None,
        raw: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        if raw is None:
            raw = urlencode(payload).encode() if form else json.dumps(payload).encode()
        content_type = content_type or ("application/x-www-form-urlencoded" if form else "application/json")
        headers = {"Content-Type": content_type, "x-api-key": key if key is not None else self.vendor_key}
        return self.gateway.handle("POST", "/leads", headers, raw)

    def get(self, lead_id: str, *, key: str | None = None) -> Any:
        return self.gateway.handle("GET", f"/leads/{lead_id}", {"x-api-key": key or self.vendor_key}, b"")

    def retry_messages(self, *, wait: int = 0) -> list[dict[str, Any]]:
        out = self.sqs.receive_message(
            QueueUrl=self.resources.retry_queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return out.get("Messages", [])

    def next_retry_messages(self, count: int = 1, *, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Up to ``count`` retry messages, received once visible: a retry is delayed a second or two here
        (FAST_RETRIES), and polled for up to ``timeout`` seconds, ten times that and more."""
        return self.receive(count, timeout)

    def queued(self) -> int:
        """Messages on the retry queue, delayed or not."""
        return self.queue_depth()

    def all_items(self) -> list[dict[str, Any]]:
        """Every item of the table, what it stores made readable (what a test of what is stored must look
        into): a chain entry's compressed content as its text; a lead state's packed fields unpacked into
        the item, its sealed fingerprints and head hash as hex (sealed: not the fingerprints)."""
        from tf_retainer.domain import chain
        from tf_retainer.store.codec import deserialize
        from tf_retainer.store.lead_item import unpack

        pages = self.dynamodb.get_paginator("scan").paginate(TableName=self.resources.table_name)
        items = [deserialize(item) for page in pages for item in page["Items"]]
        for item in items:
            if "b" in item and "h" in item:
                item["content"] = chain.unpack(bytes(item.pop("b"))).decode()
                item["h"] = bytes(item["h"]).hex()
            if "s" in item and item.get("sk") == "STATE":
                item.update(unpack(bytes(item.pop("s"))))
                item["m"] = {kind: bytes(sealed).hex() for kind, sealed in (item.get("m") or {}).items()}
                if "head" in item:
                    item["head"] = bytes(item["head"]).hex()
        return items

    def rewrite_state(self, lead_id: str, **changes: Any) -> None:
        """Set fields of a lead's state as time, a crash or an insider would have left them (its open-index
        keys following), through the store's own codec, everything else of the item kept."""
        from tf_retainer.store.codec import deserialize, serialize

        table = self.leads.table
        key = serialize({"pk": f"LEAD#{lead_id}", "sk": "STATE"})
        raw = deserialize(self.dynamodb.get_item(TableName=table.name, Key=key, ConsistentRead=True)["Item"])
        stored = table.codec.lead(raw, with_match=True)
        lead = type(stored).model_validate({**stored.model_dump(), **changes})
        builder = self.leads.writer._items  # the request builder the store writes with
        fresh = deserialize(builder.new_lead(lead, ttl=raw["ttl"])["Put"]["Item"])
        kept = {name: value for name, value in raw.items() if name not in fresh and name not in _CODEC_FIELDS}
        self.dynamodb.put_item(TableName=table.name, Item=serialize({**fresh, **kept}))


# Attributes the codec writes (a rewritten state drops those its new fields no longer have).
_CODEC_FIELDS = frozenset(
    {"status", "attempts", "applied", "lease_until", "check_after", "head", "s", "m", "gsi2pk", "gsi2sk"}
)


def is_state_put(put_item_kwargs: dict[str, Any]) -> bool:
    """Whether a put_item call (its keyword arguments) puts a lead's state: the reservation's last write."""
    return bool(put_item_kwargs["Item"]["sk"]["S"] == "STATE")


def buyer_key(stack: Any, name: str = "crm") -> str:
    """A new buyer-system key (a CRM's, a dialer's): it records revocations and asks the gate of any lead."""
    key = secrets.token_urlsafe(24)
    stack.vendor_keys.put(key, name, now=datetime.now(UTC), role="buyer")
    return key


def post_json(stack: Any, path: str, body: Any, key: str) -> Any:
    """POST ``body`` (JSON, or bytes as they are) through the in-process gateway."""
    headers = {"x-api-key": key, "Content-Type": "application/json"}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return stack.gateway.handle("POST", path, headers, raw)


def later(monkeypatch: Any, by: timedelta) -> datetime:
    """The service's clock reads ``by`` from now (the in-process stack's deps), until the test ends."""
    from tf_retainer.wiring import default_deps

    moment = datetime.now(UTC) + by
    monkeypatch.setattr(default_deps(), "clock", lambda: moment)
    return moment


def deliver(stack: Any, *, wait: bool = True) -> list[str]:
    """Retry messages through the retry use case (what the function does), each then deleted: the next ones to
    become visible (``wait``: a retry is a second or two away here), or those on the queue now."""
    from tf_retainer.domain.retry_message import RetryMessage
    from tf_retainer.leads import retry
    from tf_retainer.wiring import default_deps

    outcomes = []
    for message in stack.next_retry_messages() if wait else stack.retry_messages():
        outcomes.append(retry.retry_lead(default_deps(), RetryMessage.model_validate_json(message["Body"])))
        stack.sqs.delete_message(QueueUrl=stack.resources.retry_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return outcomes


def strand(stack: Any, lead_id: str, received: datetime) -> None:
    """A lead reserved at ``received`` whose intake died before its first step: still as reserved, due a grace
    after it arrived, found by the sweeper through the vendor index (or its revisit list)."""
    from tf_retainer.runtime.clock import iso

    from tests.support.fakes import received_lead

    cert_id = make_web_cert_id()
    lead = received_lead().model_copy(
        update={
            "lead_id": lead_id,
            "vendor": VENDOR,
            "cert_id": cert_id,
            "certificate_url": f"https://cert.trustedform.com/{cert_id}",
            "received_at": iso(received),
            "check_after": iso(received + timedelta(seconds=120)),
        }
    )
    stack.writer.reserve(lead, actor="intake", now=received)
