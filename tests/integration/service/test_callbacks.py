"""Vendor callbacks: a lead that leaves pending is POSTed, signed, to its vendor's callback URL, from the
callback queue the event bus fills; retried on 5xx and timeouts with backoff; never sent to a private
address where that is not allowed; the vendor verifies it with the documented recipe."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from tf_retainer.events.callbacks import verify
from tf_retainer.store.vendor_callbacks import NoSealingKey, VendorCallbackStore

from local.functions import invoke
from local.poller import RetryPoller
from local.receiver import CallbackReceiver
from local.simulator import make_web_cert_id
from local.streams import StreamPoller
from tests.support.stack import VENDOR, aws_client, lead

CALLBACK_ENV = {"CALLBACK_ALLOW_PRIVATE": "true", "CALLBACK_BASE_DELAY_SECONDS": "0", "CALLBACK_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def receiver():
    with_secret = CallbackReceiver(secret=secrets.token_urlsafe(24)).start()
    yield with_secret
    with_secret.stop()


def callback_store(stack) -> VendorCallbackStore:
    """The store as the callback function has it: the stack's callback secret key seals and opens."""
    return VendorCallbackStore(
        stack.provisioned.table_name,
        client=stack.dynamodb,
        kms=aws_client("kms"),
        key_id=stack.provisioned.callback_key_id,
    )


def register(stack, url: str, secret: str) -> None:
    callback_store(stack).put(VENDOR, url, secret, now=datetime.now(UTC))


def pending_then(stack, *behaviours: str) -> str:
    """A lead answered 202 at intake, then decided by the retry worker; its outcome published."""
    cert_id = make_web_cert_id()
    stack.sim.script(cert_id, ["unavailable", *behaviours])
    posted = stack.post(lead(cert_id)).json()
    assert posted["status"] == "pending"
    [message] = stack.next_retry_messages()
    invoke("RetryFunction", RetryPoller(stack.provisioned, wait_seconds=1).event([message]))
    StreamPoller(stack.provisioned, retry_delay_seconds=0).drain()
    return posted["lead_id"]


def run_callbacks(stack, rounds: int = 10) -> list[str]:
    """Feed the callback queue to CallbackFunction (as its event source mapping does) until it is empty."""
    poller = RetryPoller(stack.provisioned, "CallbackFunction", queue_url=stack.provisioned.callback_queue_url)
    failed: list[str] = []
    for _ in range(rounds):
        messages = poller._receive(10, 1)
        if not messages:
            break
        failed += poller.process(messages)
    return failed


def dead_letters(stack) -> list[dict[str, Any]]:
    out = stack.sqs.receive_message(QueueUrl=stack.provisioned.callback_dlq_url, MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in out.get("Messages", [])]


@pytest.mark.parametrize("stack_env", [CALLBACK_ENV])
def test_a_lead_leaving_pending_is_called_back_signed(stack, receiver):
    register(stack, receiver.url, receiver.secret)
    lead_id = pending_then(stack, "success")
    assert run_callbacks(stack) == []
    [callback] = receiver.received
    assert callback["signature_valid"] and callback["answered"] == 200
    assert callback["body"]["type"] == "Lead Retained"
    view = stack.get(lead_id).json()  # what a GET tells the vendor: the callback says the same
    assert {name: view[name] for name in callback["body"]["lead"]} == callback["body"]["lead"]
    assert callback["body"]["lead"]["status"] == "retained" and callback["event_id"].startswith(lead_id + "/")
    assert dead_letters(stack) == []


def test_the_documented_recipe_rejects_a_tampered_body_or_an_old_timestamp(receiver):
    body, timestamp = b'{"lead":{"status":"retained"}}', str(int(time.time()))
    from tf_retainer.events.callbacks import signature

    header = signature(receiver.secret, timestamp, body)
    assert verify(receiver.secret, timestamp, body, header, now=time.time())
    assert not verify(receiver.secret, timestamp, body.replace(b"retained", b"rejected"), header, now=time.time())
    assert not verify(receiver.secret, timestamp, body, header, now=time.time() + 301)
    assert not verify("another-secret", timestamp, body, header, now=time.time())


@pytest.mark.parametrize("stack_env", [CALLBACK_ENV])
def test_5xx_then_timeout_then_200_is_retried_with_the_same_event_id(stack, receiver):
    register(stack, receiver.url, receiver.secret)
    receiver.script("503", "slow:2", "200")  # the second answer comes after the 1 s timeout
    pending_then(stack, "success")
    assert run_callbacks(stack) == []
    deadline = time.monotonic() + 30  # the slow answer is recorded when its 2 s are up, after the retry
    while len(receiver.received) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    answered = [(entry["answered"], entry["event_id"]) for entry in receiver.received]
    assert [status for status, _ in answered] == [503, 200, 200]
    assert len({event_id for _, event_id in answered}) == 1 and dead_letters(stack) == []


@pytest.mark.parametrize("stack_env", [CALLBACK_ENV])
def test_intake_answers_are_not_called_back(stack, receiver):
    register(stack, receiver.url, receiver.secret)
    stack.post(lead())  # 201 retained: the vendor already has its answer
    StreamPoller(stack.provisioned, retry_delay_seconds=0).drain()
    assert run_callbacks(stack) == [] and receiver.received == []


@pytest.mark.parametrize("stack_env", [{**CALLBACK_ENV, "CALLBACK_ALLOW_PRIVATE": "false"}])
def test_a_callback_host_resolving_to_a_private_address_is_never_called(stack, receiver, monkeypatch):
    from tf_retainer import wiring

    register(stack, "https://callbacks.vendor.example/tf", receiver.secret)
    monkeypatch.setattr(wiring.callback_deps(), "resolver", lambda host, port: ["10.0.0.7"])
    lead_id = pending_then(stack, "success")
    assert run_callbacks(stack) == []
    [dead] = dead_letters(stack)
    assert dead["reason"] == "callback_address_not_public" and dead["job"]["answer"]["lead_id"] == lead_id
    assert receiver.received == []


@pytest.mark.parametrize("stack_env", [{**CALLBACK_ENV, "CALLBACK_MAX_ATTEMPTS": "3"}])
def test_a_vendor_that_keeps_failing_is_given_up_on_after_the_attempts(stack, receiver):
    register(stack, receiver.url, receiver.secret)
    receiver.script("500")
    pending_then(stack, "success")
    assert run_callbacks(stack) == []
    assert [entry["answered"] for entry in receiver.received] == [500, 500, 500]
    [dead] = dead_letters(stack)
    assert dead["reason"] == "gave_up_after_3_attempts:http_500" and dead["job"]["attempt"] == 3


def test_the_cli_registers_an_https_callback_and_refuses_a_private_one(stack):
    import io

    from tf_retainer_ops import cli

    target = ["--table", stack.provisioned.table_name, "--region", "us-east-1"]
    sealing = ["--callback-key-id", stack.provisioned.callback_key_id]

    def run(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        return cli.main([*target, *sealing, *argv], out=out, err=err), out.getvalue(), err.getvalue()

    code, out, _ = run("--json", "vendors", "callback", "set", VENDOR, "https://crm.acme.example/tf")
    assert code == 0
    secret = json.loads(out)["secret"]
    stored = callback_store(stack).get(VENDOR)
    assert stored is not None and (stored.url, stored.secret) == ("https://crm.acme.example/tf", secret)
    # Sealed in the table: no reader of the item sees the secret.
    assert secret not in json.dumps(stack.all_items(), default=repr)
    code, out, _ = run("vendors", "callback", "show", VENDOR)
    assert code == 0 and "https://crm.acme.example/tf" in out and secret not in out
    code, _, err = run("vendors", "callback", "set", VENDOR, "https://192.168.0.10/tf")
    assert code != 0 and "callback_address_not_public" in err
    code, _, err = run("vendors", "callback", "set", VENDOR, "http://crm.acme.example/tf")
    assert code != 0 and "callback_not_https" in err
    assert run("vendors", "callback", "remove", VENDOR)[0] == 0
    assert not callback_store(stack).get(VENDOR).active


def test_callback_secrets_are_sealed_and_a_clear_one_from_before_is_sealed_in_place(stack):
    """Issue 26: the vendors' signing secrets are not readable in clear from the table (every role reading it
    read them); sealed under CallbackSecretKey, bound to the vendor. A secret stored in clear before is
    still used, and `vendors callback seal` seals it without changing it."""
    import io

    from tf_retainer.store import keys
    from tf_retainer.store.codec import serialize

    from tf_retainer_ops import cli

    store = callback_store(stack)
    store.put(VENDOR, "https://crm.acme.example/tf", "s3cret-of-acme", now=datetime.now(UTC))
    item = stack.dynamodb.get_item(
        TableName=stack.provisioned.table_name, Key=serialize(keys.key(keys.vendor_callback_pk(VENDOR), keys.CALLBACK))
    )["Item"]
    assert "secret" not in item and b"s3cret-of-acme" not in bytes(item["sealed_secret"]["B"])
    # Bound to its vendor: copied into another vendor's item, it does not open.
    copied = {**item, "pk": {"S": keys.vendor_callback_pk("other-vendor")}, "vendor": {"S": "other-vendor"}}
    stack.dynamodb.put_item(TableName=stack.provisioned.table_name, Item=copied)
    with pytest.raises(Exception, match="InvalidCiphertext"):
        store.get("other-vendor")
    # A store without the key refuses to store a secret at all.
    with pytest.raises(NoSealingKey):
        VendorCallbackStore(stack.provisioned.table_name, client=stack.dynamodb).put(
            VENDOR, "https://crm.acme.example/tf", "x", now=datetime.now(UTC)
        )

    legacy = {**item, "secret": {"S": "old-clear-secret"}}
    del legacy["sealed_secret"]
    stack.dynamodb.put_item(TableName=stack.provisioned.table_name, Item=legacy)
    assert store.get(VENDOR).secret == "old-clear-secret"
    out, err = io.StringIO(), io.StringIO()
    argv = ["--table", stack.provisioned.table_name, "--region", "us-east-1"]
    argv += ["--callback-key-id", stack.provisioned.callback_key_id, "vendors", "callback", "seal", VENDOR]
    assert cli.main(argv, out=out, err=err) == 0, err.getvalue()
    assert "1 callback secret(s) sealed" in out.getvalue()
    assert "old-clear-secret" not in json.dumps(stack.all_items(), default=repr)
    assert callback_store(stack).get(VENDOR).secret == "old-clear-secret"
