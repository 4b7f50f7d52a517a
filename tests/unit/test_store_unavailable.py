"""A table that is busy or does not answer reaches the use cases as StoreUnavailable (which the API answers
503, send again), never as botocore's own exceptions (which the API would answer 502)."""

from __future__ import annotations

import io

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from tf_retainer.ports.leads import StoreUnavailable
from tf_retainer.store.conflicts import all_unavailable_when_transient

from tf_retainer_ops import cli

URL = "https://dynamodb.us-east-1.amazonaws.com"


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "GetItem")


@all_unavailable_when_transient
class Store:
    def read(self, error: Exception) -> None:
        raise error

    def _private(self, error: Exception) -> None:
        raise error

    @staticmethod
    def helper(error: Exception) -> None:
        raise error


@pytest.mark.parametrize(
    "error",
    [
        ReadTimeoutError(endpoint_url=URL),  # sent, no answer: a write may have been applied
        EndpointConnectionError(endpoint_url=URL),
        ConnectTimeoutError(endpoint_url=URL),
        client_error("ThrottlingException"),
        client_error("ProvisionedThroughputExceededException"),
        client_error("InternalServerError"),
    ],
    ids=lambda error: type(error).__name__ if not isinstance(error, ClientError) else error.response["Error"]["Code"],
)
def test_a_busy_or_unreachable_table_is_store_unavailable(error):
    with pytest.raises(StoreUnavailable) as raised:
        Store().read(error)
    assert raised.value.__cause__ is error  # kept for the logs and the CLI


@pytest.mark.parametrize("code", ["ConditionalCheckFailedException", "ValidationException", "AccessDeniedException"])
def test_a_refusal_or_a_bug_stays_what_it_is(code):
    """A failed condition is an answer the store acts on; a malformed request or a missing grant is a bug to
    alarm on, not a busy table to wait out."""
    with pytest.raises(ClientError):
        Store().read(client_error(code))


def test_only_the_public_methods_are_guarded():
    with pytest.raises(ReadTimeoutError):
        Store()._private(ReadTimeoutError(endpoint_url=URL))
    with pytest.raises(ReadTimeoutError):
        Store.helper(ReadTimeoutError(endpoint_url=URL))  # still a staticmethod, untouched


@pytest.mark.parametrize(
    ("cause", "code", "says"),
    [
        (EndpointConnectionError(endpoint_url=URL), 2, "cannot reach AWS"),
        (ReadTimeoutError(endpoint_url=URL), 1, "did not answer in time"),
    ],
)
def test_the_cli_says_it_in_one_line_with_an_exit_code(tmp_path, monkeypatch, cause, code, says):
    def unavailable(_text: str) -> None:
        raise StoreUnavailable("read_lead: " + type(cause).__name__) from cause

    monkeypatch.setattr("tf_retainer_ops.commands.evidence.load", unavailable)
    evidence = tmp_path / "evidence.json"
    evidence.write_text("{}")
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["verify", str(evidence)], out=out, err=err) == code
    assert says in err.getvalue() and "Traceback" not in err.getvalue() and err.getvalue().count("\n") == 1
