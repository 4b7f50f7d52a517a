"""The operator CLI run in-process against the `stack` fixture, with an explicit target (--table/--queue-url/
--dlq-url), and the check that nothing secret reaches its output: shared by the tests of tests/integration/ops."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from tests.support.stack import TF_API_KEY
from tf_retainer_ops import cli

CLEAR_TEXT = ("Jane.Doe@Example.com", "jane.doe@example.com", "(512) 555-1212", "5125551212", "555-1212")


def run(stack: Any, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    explicit = [
        "--table",
        stack.provisioned.table_name,
        "--queue-url",
        stack.provisioned.retry_queue_url,
        "--dlq-url",
        stack.provisioned.retry_dlq_url,
        "--region",
        "us-east-1",
        "--consumer-key-secret",
        stack.provisioned.consumer_key_secret_id,
    ]
    code = cli.main([*explicit, *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def run_json(stack: Any, *argv: str) -> Any:
    code, out, err = run(stack, "--json", *argv)
    assert code == 0, err
    return json.loads(out)


def secrets_of(stack: Any) -> list[str]:
    basic = base64.b64encode(f"API:{TF_API_KEY}".encode()).decode()
    return [TF_API_KEY, basic, stack.vendor_key, *CLEAR_TEXT]


def assert_no_secrets(stack: Any, *texts: str) -> None:
    for text in texts:
        for secret in secrets_of(stack):
            assert secret not in text
