"""`python -m local.stack` as a user runs it: a subprocess on free ports, driven over HTTP only."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from local.simulator import make_web_cert_id
from local.stack import StackProcess, StartupError
from tests.support.local_events import lead_events
from tests.support.stack import EMAIL, PHONE, PHONE_DIGITS, lead

# One worker runs the module against one local stack (a module fixture). The first test also waits for
# the stack to start: pytest's limit covers READY_TIMEOUT.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(300)]

REPO_ROOT = Path(__file__).resolve().parents[2]
# A limit, not a goal: ~2 s on an idle machine, ~20 s beside the rest of the suite on 2 cores. How fast
# the stack starts is a `make bench` figure (bench/stack_start.py).
READY_TIMEOUT = 240.0
# A request's limit, not a speed check: answers take milliseconds, seconds with every core busy.
HTTP_TIMEOUT = 60.0
TF_API_KEY = "e2e-trustedform-key-0123456789"
VENDOR_KEY = "e2e-vendor-key-0123456789abcdef"


def http_get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=HTTP_TIMEOUT, **kwargs)


def http_post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, timeout=HTTP_TIMEOUT, **kwargs)


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory) -> Iterator[StackProcess]:
    settings = {
        "TRUSTEDFORM_API_KEY": TF_API_KEY,
        "LOCAL_VENDOR_NAME": "e2e-vendor",
        "LOCAL_VENDOR_KEY": VENDOR_KEY,
        "RETRY_BASE_SECONDS": "1",
        "RETRY_CAP_SECONDS": "2",
        "ACCOUNT_ERROR_DELAY_SECONDS": "2",
    }
    stack = StackProcess(tmp_path_factory.mktemp("local-stack"), settings).start()
    try:
        try:
            stack.wait(READY_TIMEOUT)
        except StartupError as exc:
            pytest.fail(str(exc))
        print(f"\nlocal stack ready {stack.ready_seconds:.2f} s after the process started")
        yield stack
    finally:
        stack.kill()


def scripted_certificate(local_stack: StackProcess, *behaviours: str) -> str:
    """A fresh certificate whose TrustedForm answers are ``behaviours``, one per call (the simulator's)."""
    cert_id = make_web_cert_id()
    control = f"{local_stack.simulator_url}/_simulator/certificates/{cert_id}"
    scripted = http_post(control, json={"behaviours": behaviours})
    assert scripted.status_code == 200
    return cert_id


@pytest.fixture(scope="module")
def client(local_stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_stack.api_url, headers={"x-api-key": VENDOR_KEY}, timeout=HTTP_TIMEOUT) as http:
        yield http


def test_the_stack_becomes_ready_and_says_how_to_use_it(local_stack):
    banner = "".join(local_stack.lines)
    assert f"x-api-key: {VENDOR_KEY}" in banner
    assert f"curl -sS -X POST {local_stack.api_url}/leads" in banner
    assert local_stack.state["endpoint_url"].startswith("http://127.0.0.1:")
    assert local_stack.state["table_name"] and local_stack.state["retry_queue_url"]


def test_a_lead_is_retained(client):
    response = client.post("/leads", json=lead(lead_id="E2E-1"))
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["status"], answer["vendor_lead_id"]) == ("retained", "E2E-1")
    view = client.get(f"/leads/{answer['lead_id']}")
    assert (view.status_code, view.json()["status"]) == (200, "retained")


def test_the_call_gate_answers_over_http_and_closes_when_the_consumer_texts_stop(client):
    gate_email = "gate.e2e@example.com"  # a consumer of this test's own: the others' leads stay open
    answer = client.post("/leads", json=lead(lead_id="E2E-GATE", email=gate_email)).json()
    email = {"channel": "email"}  # no calling hours govern an email, whatever the time this runs at
    gate = client.get("/leads/E2E-GATE/contactable", params=email)
    assert (gate.status_code, gate.json()["contactable"], gate.json()["lead_id"]) == (200, True, answer["lead_id"])
    stop = {"id": "E2E-STOP", "email": gate_email, "via": "email", "message": "unsubscribe"}
    recorded = client.post("/revocations", json=stop)
    assert (recorded.status_code, recorded.json()["status"], recorded.json()["leads"]) == (201, "recorded", 1)
    closed = client.get("/leads/E2E-GATE/contactable", params=email).json()
    assert (closed["contactable"], closed["reason"]) == (False, "consent_revoked")


def test_the_api_description_and_its_page_are_served_without_a_network(local_stack):
    banner = "".join(local_stack.lines)
    assert f"{local_stack.api_url}/docs" in banner
    served = http_get(f"{local_stack.api_url}/openapi.json")  # no key: it is public
    assert served.status_code == 200
    assert served.text == (REPO_ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    page = http_get(f"{local_stack.api_url}/docs")
    assert (page.status_code, page.headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert '"/leads/{lead_id}/contactable"' in page.text  # the description, embedded
    # Every script and style the page loads comes from the stack itself.
    assets = re.findall(r"(?:src|href)='([^']+)'", page.text)
    assert assets and all(asset.startswith("/docs/") for asset in assets)
    for asset in assets:
        loaded = http_get(f"{local_stack.api_url}{asset}")
        assert loaded.status_code == 200 and len(loaded.content) > 10_000, asset


def test_the_stage_prefix_is_accepted(client):
    response = client.post("/local/leads", json=lead())
    assert response.status_code == 201, response.text


def test_a_transient_failure_is_retained_by_the_retry_worker(local_stack, client):
    cert_id = scripted_certificate(local_stack, "unavailable", "success")
    response = client.post("/leads", json=lead(cert_id))
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["status"], answer["reason"]) == ("pending", "trustedform_unavailable")

    deadline = time.monotonic() + 60  # the retry comes about a second after the 503
    view = {}
    while time.monotonic() < deadline:
        view = client.get(f"/leads/{answer['lead_id']}").json()
        if view["status"] != "pending":
            break
        time.sleep(0.25)
    assert view["status"] == "retained", view
    assert [entry["event"] for entry in view["history"]].count("attempt") == 2, view["history"]
    posts = [r for r in http_get(f"{local_stack.simulator_url}/_simulator/requests").json() if r["cert_id"] == cert_id]
    assert [r["status"] for r in posts] == [503, 200]
    # The retained outcome reached the event bus (stream -> PublisherFunction) and the example subscriber.
    assert outcome_events(local_stack, answer["lead_id"]) == ["Lead Retained"]
    # And the vendor, told 202 at first, was called back, signed.
    deadline = time.monotonic() + 60
    callbacks: list[dict] = []
    while time.monotonic() < deadline and not callbacks:
        received = http_get(local_stack.state["callback_receiver_url"]).json()
        callbacks = [c for c in received if c["body"]["lead"]["lead_id"] == answer["lead_id"]]
        time.sleep(0.25)
    assert [(c["body"]["type"], c["signature_valid"]) for c in callbacks] == [("Lead Retained", True)]


def outcome_events(local_stack, lead_id: str, timeout: float = 60) -> list[str]:
    """The detail-types of ``lead_id``'s events on the example subscriber queue, once any arrived."""
    return [event["detail-type"] for event in lead_events(local_stack.state, lead_id, timeout)]


def test_a_bad_certificate_url_is_refused(client):
    response = client.post("/leads", json=lead(trustedform_cert_url="https://cert.trustedform.com.evil.example/x"))
    assert response.status_code == 422
    assert (response.json()["status"], response.json()["reason"]) == ("rejected", "invalid_certificate_url")


def test_an_unknown_vendor_key_is_refused(local_stack):
    response = http_post(f"{local_stack.api_url}/leads", json=lead(), headers={"x-api-key": "k" * 32})
    assert response.status_code == 401
    assert response.json() == {"status": "rejected", "reason": "unknown_vendor_key"}
    assert http_post(f"{local_stack.api_url}/leads", json=lead()).status_code == 401  # no key at all


def test_the_request_log_names_outcomes_never_contact_details_or_keys(local_stack, client):
    # Its own traffic: test processes (pytest-xdist) may each run a stack of their own.
    assert client.post("/leads", json=lead()).status_code == 201
    assert http_post(f"{local_stack.api_url}/leads", json=lead(), headers={"x-api-key": "k" * 32}).status_code == 401
    cert_id = scripted_certificate(local_stack, "unavailable", "success")
    lead_id = client.post("/leads", json=lead(cert_id)).json()["lead_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and client.get(f"/leads/{lead_id}").json()["status"] == "pending":
        time.sleep(0.25)
    log = local_stack.stderr()
    assert "POST /leads 201" in log and "status=retained" in log
    assert "POST /leads 401" in log and "reason=unknown_vendor_key" in log
    assert "retry batch: 1 message(s)" in log
    for secret in (EMAIL, PHONE, PHONE_DIGITS, VENDOR_KEY, TF_API_KEY):
        assert secret not in log


def test_twenty_concurrent_posts_all_get_answers(local_stack):
    """A burst: every connection is accepted (listen backlog) and every post answered by a worker."""
    barrier = threading.Barrier(20)
    answers: list[int | str] = []

    def post(n: int) -> None:
        # Twenty at once on the stack's few workers: each waits its turn.
        with httpx.Client(
            base_url=local_stack.api_url, headers={"x-api-key": VENDOR_KEY}, timeout=4 * HTTP_TIMEOUT
        ) as http:
            barrier.wait(HTTP_TIMEOUT)
            try:
                answers.append(http.post("/leads", json=lead(lead_id=f"BURST-{n}")).status_code)
            except httpx.TransportError as exc:
                answers.append(type(exc).__name__)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(4 * HTTP_TIMEOUT)
    assert sorted(answers, key=str) == [201] * 20, answers


def hang_a_retry(local_stack, client) -> str:
    """A lead whose retry's call to TrustedForm is in flight, held unanswered by the simulator; its id.
    The call stays in flight for the retry's 20 s timeout."""
    cert_id = scripted_certificate(local_stack, "unavailable", "hang")
    posted = client.post("/leads", json=lead(cert_id))
    assert posted.status_code == 202, posted.text
    # The retry message is visible about a second later; a retry batch still hung on TrustedForm (an
    # earlier test's) may hold a worker for up to its 20 s.
    deadline = time.monotonic() + 120
    hung = False
    while not hung and time.monotonic() < deadline:
        sent = http_get(f"{local_stack.simulator_url}/_simulator/requests").json()
        hung = [r["status"] for r in sent if r["cert_id"] == cert_id] == [503, None]
        time.sleep(0.1)
    assert hung, "the retry never reached TrustedForm"
    return posted.json()["lead_id"]


def test_a_hung_trustedform_call_in_a_retry_does_not_hold_back_new_posts(local_stack, client):
    hung_lead = hang_a_retry(local_stack, client)
    response = client.post("/leads", json=lead(lead_id="WHILE-HUNG"))
    assert response.status_code == 201, response.text
    # Answered while the retry still waits for TrustedForm: its attempt is recorded only when the call ends.
    hung = client.get(f"/leads/{hung_lead}").json()
    assert (hung["status"], [entry["event"] for entry in hung["history"]].count("attempt")) == ("pending", 1), hung
    assert client.get(f"/leads/{response.json()['lead_id']}").status_code == 200


def test_backfill_runs_the_intake_in_process_against_the_local_stack(local_stack, client, tmp_path, monkeypatch):
    """`tf-retainer --local backfill`: the functions' settings from the state file, the key through the
    local endpoint; a lead the stack already holds (posted live) is not sent again."""
    import io
    from datetime import UTC, datetime, timedelta

    from tf_retainer_ops import cli, target

    (tmp_path / ".local-stack").mkdir()
    (tmp_path / ".local-stack" / "state.json").write_text(local_stack.state_file.read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(target, "REPO_ROOT", tmp_path)
    live, backfilled = make_web_cert_id(), make_web_cert_id()
    assert client.post("/leads", json=lead(live, lead_id="BF-LIVE")).status_code == 201
    recent = (datetime.now(UTC) - timedelta(hours=5)).isoformat()
    rows = [
        f"https://cert.trustedform.com/{c},{EMAIL},{lead_id},{recent}"
        for c, lead_id in ((live, "BF-LIVE"), (backfilled, "BF-1"))
    ]
    (tmp_path / "leads.csv").write_text("certificate_url,email,lead_id,lead_date\n" + "\n".join(rows) + "\n")
    out, err = io.StringIO(), io.StringIO()
    argv = ["--local", "--json", "backfill", "leads.csv", "--vendor", local_stack.state["vendor"]]
    assert cli.main(argv, out=out, err=err) == 0, err.getvalue()
    summary = json.loads(out.getvalue())
    assert (summary["retained"], summary["already_done"]) == (1, {"retained": 1})
    assert client.get("/leads/BF-1/contactable", params={"channel": "email"}).json()["contactable"] is True
    posts = http_get(f"{local_stack.simulator_url}/_simulator/requests").json()
    assert [r["status"] for r in posts if r["cert_id"] in (live, backfilled)] == [200, 200]


def test_backfill_runs_in_an_operators_shell_with_only_the_documented_settings(local_stack, client, tmp_path):
    """`tf-retainer --local backfill` as its own process, in a shell holding none of the service's variables
    (POWERTOOLS_*, TRUSTEDFORM_*, AWS_*): the settings are the state file's; the service's metrics need no
    namespace from the shell (issue 26: it failed on the first valid row)."""
    (tmp_path / ".local-stack").mkdir()
    (tmp_path / ".local-stack" / "state.json").write_text(local_stack.state_file.read_text())
    recent = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    cert_id = make_web_cert_id()
    (tmp_path / "leads.csv").write_text(
        f"certificate_url,email,lead_id,lead_date\nhttps://cert.trustedform.com/{cert_id},{EMAIL},BF-SHELL,{recent}\n"
    )
    shell = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POWERTOOLS_", "TRUSTEDFORM_", "AWS_", "TABLE_", "RETRY_", "EVENT_", "LOCAL_"))
    }
    vendor = local_stack.state["vendor"]
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "tf_retainer_ops.cli", "--local", "--json", "backfill", "leads.csv", "--vendor", vendor],
        cwd=tmp_path,
        env=shell,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["retained"] == 1, done.stdout
    # an email lead: asked about an email (a call needs a phone, and the hour at the consumer's place)
    assert client.get("/leads/BF-SHELL/contactable", params={"channel": "email"}).json()["contactable"] is True


def test_the_stack_anchors_each_chain_entry_and_evidence_verify_checks_them(local_stack, client, tmp_path):
    """AnchorFunction runs from the table's stream as the publisher does: a lead's entries are anchored in the
    archive bucket within seconds, and `tf-retainer --local evidence verify` (its own process, the state
    file's target) checks them against the local AnchorKey."""
    (tmp_path / ".local-stack").mkdir()
    (tmp_path / ".local-stack" / "state.json").write_text(local_stack.state_file.read_text())
    assert local_stack.state["anchor_key_id"] and local_stack.state["archive_bucket"]
    assert any(line.strip().startswith("anchors ") for line in local_stack.lines)
    lead_id = client.post("/leads", json=lead()).json()["lead_id"]
    deadline = time.monotonic() + 60
    answer: dict = {}
    while time.monotonic() < deadline:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "tf_retainer_ops.cli", "--local", "--json", "evidence", "verify", lead_id],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        answer = json.loads(done.stdout)
        if answer["anchors"].get("checked") and not answer["anchors"]["not_anchored_yet"]:
            break
        time.sleep(0.5)
    assert answer["anchors"]["anchored"] == list(range(1, answer["entries"] + 1)), answer


def test_a_sigterm_to_the_whole_process_group_stops_cleanly_too(tmp_path):
    """`make run` killed with its process group (by a supervisor, `timeout`, `kill -- -PGID`):
    the stack gets the kill's SIGTERM and then the one make forwards. The second is not a second Ctrl-C: the
    stack still stops everything, removes its state file and exits 0 (it used to leave at once, exit 1)."""
    settings = {"TRUSTEDFORM_API_KEY": TF_API_KEY, "LOCAL_VENDOR_NAME": "e2e-vendor", "LOCAL_VENDOR_KEY": VENDOR_KEY}
    stack = StackProcess(tmp_path, settings).start()
    try:
        stack.wait(READY_TIMEOUT)
        assert stack.state_file.exists()
        for _ in range(2):
            stack.process.send_signal(signal.SIGTERM)
            time.sleep(0.05)
        assert stack.process.wait(60) == 0
    finally:
        stack.kill()
    assert "stopped api, sweeper" in stack.stderr() and "Traceback" not in stack.stderr()
    assert not stack.state_file.exists()


def test_sigterm_stops_everything_cleanly_without_waiting_for_a_hung_call(local_stack, client):
    hang_a_retry(local_stack, client)
    assert local_stack.stop(120) == 0  # SIGTERM
    log = local_stack.stderr()
    assert (
        "stopped api, sweeper, holds, consent, archiver, callbacks, anchors, streams, poller, workers, receiver, "
        "simulator, moto" in log
    )
    # The hung retry was not waited out: its batch ended when asked, going back to the queue as on a Lambda
    # shutdown, and no poller was left running past its stop.
    assert re.search(r"retry batch: .*: 0 done, \d+ back to the queue error=FunctionError", log), log[-3000:]
    assert "still running" not in log, log[-3000:]
    assert "Traceback" not in log
    assert not local_stack.state_file.exists()  # an operator CLI will not find a dead stack
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{local_stack.api_url}/leads/x", timeout=2)
