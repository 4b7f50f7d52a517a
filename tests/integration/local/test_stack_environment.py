"""The local stack's functions point at the stack's own resources, whatever the shell that started it holds
(another stack's table or secrets, left by a bench or a CLI session): a shell value wins only for what is
not a resource of the stack."""

from __future__ import annotations

from typing import Any

from local.backend import Backend
from local.stack import function_environment


class _Provisioned:
    def environment(self) -> dict[str, str]:
        return {
            "TABLE_NAME": "local-leads",
            "TRUSTEDFORM_SECRET_ID": "arn:local:trustedform",
            "CONSUMER_KEY_SECRET_ID": "arn:local:consumer-key",
            "CALLBACK_QUEUE_URL": "http://local/callbacks",
            "CALLBACK_DLQ_URL": "http://local/callbacks-dlq",
            "CALLBACK_SECRET_KEY_ID": "arn:local:callback-key",
            "ARCHIVE_BUCKET": "local-archive",
            "ANCHOR_KEY_ID": "arn:local:anchor-key",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }


def test_the_stacks_resources_win_over_the_shells_and_its_tunables_do_not() -> None:
    provisioned: Any = _Provisioned()
    backend = Backend("tf-key", simulator="http://127.0.0.1:1/tf")
    backend.provisioned = provisioned
    shell = {name: f"elsewhere:{name}" for name in provisioned.environment()}
    env = function_environment(backend, shell)
    resources = {name: value for name, value in provisioned.environment().items() if name != "POWERTOOLS_LOG_LEVEL"}
    assert {name: env[name] for name in resources} == resources
    assert env["POWERTOOLS_LOG_LEVEL"] == "elsewhere:POWERTOOLS_LOG_LEVEL"
    assert env["TRUSTEDFORM_API_URL"] == "http://127.0.0.1:1/tf"
