"""The fault soak's own settings must not make dead letters the service would not: its retry queue's visibility
timeout, shortened from the template's 360 s, outlasts the attempt lease the stack's functions hold (a delivery
the lease turned away comes back only once the lease has ended, so a killed attempt does not spend a message's
receives while its lease still holds)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from bench import soak


@pytest.mark.parametrize("retry_timeout", [1.0, 3.0, 7.5, 20.0, 40.0])
def test_the_soak_s_visibility_outlasts_the_lease_its_stack_holds(retry_timeout, settings):
    # the lease the retry worker takes, as the stack's settings make it from the soak's RETRY_TIMEOUT_SECONDS,
    # in an invocation with all of the RetryFunction's Timeout left
    from tf_retainer.leads.retry import attempt_lease

    from local.provision import function_settings

    stack_settings = settings.model_copy(update={"retry_timeout_seconds": retry_timeout})
    invocation_ends = time.monotonic() + function_settings("RetryFunction").timeout
    lease = attempt_lease(SimpleNamespace(settings=stack_settings), invocation_ends)
    assert soak.retry_visibility(retry_timeout) > lease


def test_a_visibility_under_the_lease_is_refused_before_anything_starts(capsys):
    with pytest.raises(SystemExit) as stopped:
        soak.main(["--leads", "10", "--retry-timeout", "3", "--visibility", "60"])
    assert stopped.value.code == 2
    assert "must outlast the attempt lease: 65 s" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "kills_api"),
    [
        ("", False),
        ("conflict:0.05,throttle:0.05,lost-answer:0.01,duplicate:0.1,stale-index:2s,kill:0.002", False),
        ("kill:0.01,kill-functions:all", True),
        ("kill:0.01,kill-functions:IntakeFunction", True),
        ("throttle:0.05,kill-functions:all", False),  # nothing is killed at all
    ],
)
def test_the_soak_expects_502s_only_when_its_plan_kills_the_api_s_functions(spec, kills_api):
    assert soak.kills_api_functions(spec) is kills_api


def test_the_soak_s_vendor_sends_a_lead_answered_5xx_again_after_retry_after():
    """As a vendor told 502 or 503 (with Retry-After) would: the last answer is what counts, and every post
    sent again is counted (a run without API kills fails on any)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: dict[str, int] = {}

    class Api(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            tries = seen[body["lead_id"]] = seen.get(body["lead_id"], 0) + 1
            status = {"a": [201], "b": [502, 201], "c": [503, 503, 202], "d": [502] * 9}[body["lead_id"]]
            answer = status[min(tries, len(status)) - 1]
            self.send_response(answer)
            if answer == 503:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"lead_id": body["lead_id"], "try": tries}).encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        answers, resent = soak.post_leads(url, [{"lead_id": x} for x in "abcd"], clients=2, resends=2)
    finally:
        server.shutdown()
    assert [(status, answer["try"]) for status, answer in answers] == [(201, 1), (201, 2), (202, 3), (502, 3)]
    assert resent == 1 + 2 + 2 and seen == {"a": 1, "b": 2, "c": 3, "d": 3}
