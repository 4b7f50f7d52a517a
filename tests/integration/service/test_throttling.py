"""The functions' DynamoDB client waits out throttling within a call's bound (store/throttling.py): a request
throttled several times in a row still succeeds (it got one retry before, so a throttled reservation
answered 502 and a throttled outcome lost TrustedForm's answer), and one throttled for longer than
``remote_call_seconds`` gives up with DynamoDB's error, for the store to report StoreUnavailable.

Against a moto server whose front door (local/faults.py) throttles the functions' requests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from tf_retainer import wiring
from tf_retainer.store.throttling import THROTTLING

from local.faults import FaultLayer, FaultPlan

pytestmark = pytest.mark.xdist_group("faults")


class ThrottleFirst(FaultLayer):
    """Throttles the functions' next ``count`` DynamoDB requests (all of them: ``count=None``)."""

    def __init__(self, port: int, count: int | None) -> None:
        super().__init__(FaultPlan(throttle=1.0), port)
        self.left = count

    def _error(self, service: str, operation: str, request: dict[str, Any]) -> Any:
        if self.left is not None:
            if self.left <= 0:
                return None
            self.left -= 1
        return super()._error(service, operation, request)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    yield moto.get_host_and_port()[1]
    moto.stop()


@pytest.fixture
def functions_client(port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``wiring.dynamodb()`` as a function builds it, against the server, its requests marked as a worker's."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_SDK_UA_APP_ID", "tfw-throttled")  # (the table is created by anyone else)
    monkeypatch.setenv("REMOTE_CALL_SECONDS", "1")
    monkeypatch.setenv("TABLE_NAME", f"throttled-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("RETRY_QUEUE_URL", "http://127.0.0.1/unused")
    monkeypatch.setenv("TRUSTEDFORM_SECRET_ID", "unused")
    wiring.reset()
    boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}").create_table(
        TableName=wiring.get_settings().table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield wiring.dynamodb()
    wiring.reset()


def test_a_call_throttled_several_times_in_a_row_is_sent_again_until_it_succeeds(port, functions_client):
    table = wiring.get_settings().table_name
    layer = ThrottleFirst(port, count=4).install()
    try:
        out = functions_client.put_item(TableName=table, Item={"pk": {"S": "reserved"}})
    finally:
        layer.uninstall()
    assert out["ResponseMetadata"]["RetryAttempts"] == 4 and layer.left == 0
    assert "Item" in functions_client.get_item(TableName=table, Key={"pk": {"S": "reserved"}})


def test_a_call_throttled_past_its_bound_gives_up_with_dynamodbs_error(port, functions_client):
    table = wiring.get_settings().table_name
    layer = ThrottleFirst(port, count=None).install()
    try:
        with pytest.raises(ClientError) as throttled:
            functions_client.get_item(TableName=table, Key={"pk": {"S": "any"}})
    finally:
        layer.uninstall()
    assert throttled.value.response["Error"]["Code"] in THROTTLING
    assert throttled.value.response["ResponseMetadata"]["RetryAttempts"] >= 2  # waited, then gave up
