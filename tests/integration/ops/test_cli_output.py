"""A command that runs the service's own code (a revocation recorded, applied to the consumer's leads) in
one process with it: stdout is the command's alone, so `--json | jq` works; the service's info lines and
metrics are not in it."""

from __future__ import annotations

import contextlib
import io
import json
import logging

from tests.support.stack import lead
from tf_retainer_ops import cli


def test_json_output_is_the_commands_alone_when_it_runs_the_service(stack, monkeypatch):
    from tf_retainer.runtime.observability import logger

    stack.post(lead(phone="5125554444"))  # a lead of the consumer: the revocation is applied to it
    stdout, err = io.StringIO(), io.StringIO()  # the process's stdout: the service logs to it in Lambda
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stdout)
    target = ["--table", stack.provisioned.table_name, "--region", "us-east-1"]
    target += ["--consumer-key-secret", stack.provisioned.consumer_key_secret_id]
    try:
        with contextlib.redirect_stdout(stdout):
            code = cli.main([*target, "--json", "revocations", "add", "--phone", "5125554444"], out=stdout, err=err)
    finally:
        if previous is not None:
            handler.setStream(previous)
    assert code == 0, err.getvalue()
    answer = json.loads(stdout.getvalue())  # one JSON document, nothing before or after it
    assert answer["status"] == "recorded" and answer["leads"] == 1, answer
    assert "revocation recorded" not in err.getvalue()  # the service's info lines go nowhere
