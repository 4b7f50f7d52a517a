"""EventBridge: the EventBus port, one PutEvents call per outcome event."""

from __future__ import annotations

from typing import Any

from tf_retainer.domain.outcome_event import SOURCE, OutcomeEvent


class PublishFailed(Exception):
    """EventBridge refused the entry: the stream record is retried."""


class EventBridgeBus:
    """The EventBus port on EventBridge's PutEvents."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client, self.bus_name = client, bus_name

    def publish(self, event: OutcomeEvent) -> None:
        entry = {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": event.detail_json(),
            "EventBusName": self.bus_name,
        }
        out = self._client.put_events(Entries=[entry])
        if out.get("FailedEntryCount"):
            failure = out["Entries"][0]
            raise PublishFailed(f"{failure.get('ErrorCode')}: {failure.get('ErrorMessage')}")
