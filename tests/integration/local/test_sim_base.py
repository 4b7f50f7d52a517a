"""What every provider simulator inherits from local.sims.http, checked on each of them over real HTTP:
faults per request and per subject, the request log and its counts, redaction, the control endpoints,
limits, stopping, and the standalone process."""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import httpx
import pytest

import local.sims.http as sims_http
from local.sims.http import Answer, Request, SimServer
from tests.support.sims import AUDIT_KEY, KEY, PROVIDERS, REPO_ROOT, TLS, Provider, check, client


@pytest.fixture(scope="module", params=list(PROVIDERS))
def running(request):
    provider = PROVIDERS[request.param]
    with provider.make() as sim:
        yield provider, sim


@dataclass
class Env:
    provider: Provider
    sim: SimServer
    c: httpx.Client

    def send(self, subject: str, fault: str | None = None) -> httpx.Response:
        return self.provider.send(self.c, subject, {"X-Simulator-Fault": fault} if fault else {})


@pytest.fixture
def env(running):
    provider, sim = running
    sim.reset()
    sim.api_keys, sim.latency, sim.retry_after = frozenset({KEY}), 0.0, 2
    with client(sim) as c:
        yield Env(provider, sim, c)


def test_an_unscripted_subject_answers_as_documented(env):
    provider = env.provider
    response = env.send(provider.subject())
    assert response.status_code == 200
    check(provider.name, provider.answer, response.json())


@pytest.mark.parametrize(
    ("fault", "status"), [("server_error", 500), ("bad_gateway", 502), ("unavailable", 503), ("throttled", 429)]
)
def test_error_faults_answer_their_status_in_the_providers_shape(env, fault, status):
    provider, sim = env.provider, env.sim
    response = env.send(provider.subject(), fault)
    assert response.status_code == status
    if provider.error:
        check(provider.name, provider.error, response.json())
    if status == 429:
        assert response.headers["Retry-After"] == "2"
    assert sim.requests[-1]["fault"] == fault


def test_throttled_takes_its_retry_after(env):
    provider = env.provider
    response = env.send(provider.subject(), "throttled:7")
    assert (response.status_code, response.headers["Retry-After"]) == (429, "7")


def test_slow_answers_normally_after_the_delay(env):
    provider = env.provider
    started = time.monotonic()
    response = env.send(provider.subject(), "slow:0.3")
    assert time.monotonic() - started >= 0.3
    check(provider.name, provider.answer, response.json())


def test_malformed_is_a_200_that_is_not_json(env):
    provider = env.provider
    response = env.send(provider.subject(), "malformed")
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_hang_holds_the_connection_then_drops_it(env, monkeypatch):
    provider, sim = env.provider, env.sim
    monkeypatch.setattr(sims_http, "HANG_SECONDS", 0.5)
    with client(sim, timeout=0.2) as impatient, pytest.raises(httpx.ReadTimeout):
        provider.send(impatient, provider.subject(), {"X-Simulator-Fault": "hang"})
    started = time.monotonic()
    with pytest.raises(httpx.RemoteProtocolError):
        env.send(provider.subject(), "hang")
    assert time.monotonic() - started >= 0.5
    assert sim.requests[-1]["status"] is None


def test_drop_closes_the_connection_unanswered(env):
    provider = env.provider
    with pytest.raises(httpx.RemoteProtocolError):
        env.send(provider.subject(), "drop")
    assert env.send(provider.subject()).status_code == 200  # the client reconnects


def test_scripted_faults_are_consumed_in_order_and_the_last_repeats(env):
    provider, sim = env.provider, env.sim
    subject, other = provider.subject(), provider.other()
    sim.script(subject, ["unavailable", "throttled:1", "ok"])
    statuses = [env.send(subject).status_code for _ in range(4)]
    assert statuses == [503, 429, 200, 200]
    sim.script(subject, ["server_error"])
    assert [env.send(subject).status_code for _ in range(2)] == [500, 500]
    assert sim.count(other) == 0


def test_a_fault_header_takes_precedence_and_consumes_nothing(env):
    provider, sim = env.provider, env.sim
    subject = provider.subject()
    sim.script(subject, ["server_error", "ok"])
    assert env.send(subject, "ok").status_code == 200
    assert env.send(subject).status_code == 500
    assert env.send(subject).status_code == 200


def test_an_unknown_fault_is_refused(env):
    provider, sim = env.provider, env.sim
    response = env.send(provider.subject(), "explode")
    assert response.status_code == 400 and "Simulator" in response.text
    with pytest.raises(ValueError, match="unknown fault"):
        sim.script(provider.subject(), ["slow"])


def test_counts_are_per_subject_and_per_outcome(env):
    provider, sim, c = env.provider, env.sim, env.c
    first, second = provider.subject(), provider.other()
    for fault in (None, "unavailable", None):
        env.send(first, fault)
    env.send(second)
    key_first, key_second = sim.normalise(first), sim.normalise(second)
    assert sim.count(first) == 3 and sim.count(first, status=200) == 2 and sim.count(second) == 1
    assert sim.counts() == {key_first: 3, key_second: 1}
    assert c.get("/_simulator/counts").json() == {key_first: 3, key_second: 1}
    sim.reset()
    assert sim.counts() == {} and sim.requests == []


def test_the_request_log_and_log_lines_never_hold_the_key(env, caplog):
    provider, sim = env.provider, env.sim
    subject = provider.subject()
    with caplog.at_level(logging.INFO, logger="tf_retainer.sims"):
        env.send(subject)
        env.send(subject, "unavailable")
    entries = sim.requests
    assert [e["status"] for e in entries] == [200, 503] and entries[0]["subjects"] == [sim.normalise(subject)]
    assert KEY not in json.dumps(entries) and "[redacted]" in json.dumps(entries)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all(KEY not in line and sim.normalise(subject) not in line for line in lines)
    assert "status=503" in lines[1] and "fault=unavailable" in lines[1]


def test_control_endpoints_script_and_report_a_subject(env):
    provider, sim, c = env.provider, env.sim, env.c
    subject = provider.subject()
    fact, value = next(iter(sim.DEFAULT_FACTS.items()))
    path = f"/_simulator/{sim.SUBJECTS}/{subject}"
    state = c.post(path, json={"faults": ["unavailable", "ok"], "facts": {fact: value}}).json()
    assert state["faults"] == ["unavailable", "ok"] and state["facts"][fact] == value
    assert env.send(subject).status_code == 503
    assert c.get(path).json()["requests"] == 1
    assert c.post(path, json={"facts": {"no_such_fact": 1}}).status_code == 400
    assert c.post(path, json={"faults": ["explode"]}).status_code == 400
    assert c.post(path, json={"other": 1}).status_code == 400
    assert c.get("/_simulator/health").json() == {"status": "ok", "simulator": sim.NAME}
    assert c.post("/_simulator/reset").json() == {"status": "reset"} and sim.requests == []


def test_config_changes_keys_without_echoing_them(env):
    provider, c = env.provider, env.c
    answer = c.post("/_simulator/config", json={"api_keys": ["another-key"], "latency": 0.2}).json()
    assert answer == {"latency": 0.2, "retry_after": 2, "api_keys": 1}
    started = time.monotonic()
    refused = env.send(provider.subject())
    assert time.monotonic() - started >= 0.2
    assert refused.status_code == 401 and "another-key" not in refused.text
    assert c.post("/_simulator/config", json={"api_keys": "x"}).status_code == 400


def test_a_body_over_the_limit_is_refused(env):
    c = env.c
    response = c.post("/anything", content=b"x" * ((1 << 20) + 1))
    assert response.status_code == 413


def test_unknown_paths_answer_404(env):
    c = env.c
    assert c.get("/no/such/path").status_code == 404


def test_stop_ends_a_hung_request_at_once():
    provider = PROVIDERS["twilio_lookup"]
    sim = provider.make()
    sim.start()
    failures: queue.Queue[BaseException | None] = queue.Queue()

    def hang() -> None:
        try:
            with client(sim, timeout=10) as patient:
                provider.send(patient, provider.subject(), {"X-Simulator-Fault": "hang"})
            failures.put(None)
        except httpx.HTTPError as exc:
            failures.put(exc)

    threading.Thread(target=hang, daemon=True).start()
    deadline = time.monotonic() + 5
    while not sim.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    sim.stop()
    # Released by the stop, not by the client's own 10 s timeout: the error arrives within half of it.
    assert isinstance(failures.get(timeout=5), httpx.HTTPError)


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_each_simulator_runs_standalone(name):
    provider = PROVIDERS[name]
    subject = provider.subject()
    # the context manager closes the pipes whatever happens: no unclosed file left for a later test
    with subprocess.Popen(  # noqa: S603 - our own module, on this interpreter
        [sys.executable, "-m", f"local.sims.{name}", "--port", "0", "--api-key", KEY]
        + (["--audit-key", AUDIT_KEY] if name == "jornaya" else []),
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
            banner = lines.get(timeout=15)
            match = re.search(r"http://127\.0\.0\.1:\d+", banner)
            assert match and "X-Simulator-Fault" in banner, banner
            with httpx.Client(base_url=match.group(0), timeout=5, verify=TLS) as c:
                assert c.get("/_simulator/health").json()["status"] == "ok"
                assert provider.send(c, subject, {}).status_code == 200
                assert provider.send(c, subject, {"X-Simulator-Fault": "unavailable"}).status_code == 503
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                _, stderr = process.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
    assert process.returncode == 0
    assert "status=200" in stderr and "status=503" in stderr
    assert KEY not in stderr and subject not in stderr and subject[-10:] not in stderr


class _CertificateSim(SimServer):
    """A provider with faults of its own, as the TrustedForm simulator has (a status, or a behaviour its
    handler answers itself): the base serves it without changes."""

    NAME = "certificates"
    SUBJECTS = "certificates"
    EXTRA_FAULTS: ClassVar = {"claim_limit": 422, "expired_200": None}

    def __init__(self) -> None:
        super().__init__(api_keys=(KEY,))
        self.route("POST", "/{cert_id}", self._post)

    def fault_answer(self, status: int, kind: str) -> Answer:
        return Answer.json(status, {"outcome": "error", "reason": kind})

    def _post(self, req: Request) -> Answer | None:
        req.subjects = [req.params["cert_id"]]
        expired = {"outcome": "failure", "reason": "The cert has expired"}
        return self.serve(
            req, lambda: Answer.json(200, expired if req.fault == "expired_200" else {"outcome": "success"})
        )


def test_a_simulator_can_add_faults_of_its_own():
    with _CertificateSim() as sim, client(sim) as c:
        assert c.post("/abc", headers={"X-Simulator-Fault": "claim_limit"}).json() == {
            "outcome": "error",
            "reason": "claim_limit",
        }
        sim.script("abc", ["expired_200", "unavailable", "ok"])
        assert [c.post("/abc").json()["outcome"] for _ in range(3)] == ["failure", "error", "success"]
        assert c.post("/abc", headers={"X-Simulator-Fault": "masked"}).status_code == 400
        assert sim.count("abc") == 5
