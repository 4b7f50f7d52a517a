"""A lead without a TrustedForm certificate, kept on its Jornaya LeadiD token alone (issue 25), through
`python -m local.stack` as a user runs it with ``LOCAL_SCREENS=leadid=jornaya``: a subprocess on free ports,
driven over HTTP, the buyer's rules published into its table as ``tf-retainer rules set`` would."""

from __future__ import annotations

import uuid

import httpx
import pytest

from local.stack import StackProcess, StartupError
from tests.support.local_events import lead_events
from tests.support.screening import publish_rules
from tests.support.stack import EMAIL, PHONE

# The local stack's module runs on the same worker (one stack at a time on the machine); pytest's limit
# covers the start (READY_TIMEOUT) and the lead's bounded waits.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(300)]

READY_TIMEOUT = 240.0  # a limit, not a goal (as tests/e2e/test_local_stack.py's)
HTTP_TIMEOUT = 60.0
VENDOR_KEY = "e2e-token-vendor-key-0123456789ab"


def test_a_lead_with_only_its_leadid_token_is_kept_on_it_through_the_local_stack(tmp_path):
    settings = {
        "TRUSTEDFORM_API_KEY": "e2e-trustedform-key-0123456789",
        "LOCAL_VENDOR_NAME": "e2e-token-vendor",
        "LOCAL_VENDOR_KEY": VENDOR_KEY,
        "LOCAL_SCREENS": "leadid=jornaya",
        "RULES_CACHE_SECONDS": "0",
    }
    stack = StackProcess(tmp_path / "local-stack", settings).start()
    try:
        try:
            stack.wait(READY_TIMEOUT)
        except StartupError as exc:
            pytest.fail(str(exc))
        # the buyer's leads may come without a certificate: consent_records enforced with either
        publish_rules(
            stack.state["table_name"], client=stack.client("dynamodb"), consent_records={"required": "either"}
        )
        token = str(uuid.uuid4()).upper()
        with httpx.Client(base_url=stack.api_url, headers={"x-api-key": VENDOR_KEY}, timeout=HTTP_TIMEOUT) as api:
            posted = api.post("/leads", json={"email": EMAIL, "phone": PHONE, "universal_leadid": token})
            assert posted.status_code == 201, posted.text
            answer = posted.json()
            assert (answer["status"], answer["kept_on"], answer["cert_id"]) == ("retained", ["jornaya"], None), answer
            view = api.get(f"/leads/{answer['lead_id']}")
            assert view.status_code == 200, view.text
            assert (view.json()["status"], view.json()["kept_on"], view.json()["leadid_token"]) == (
                "retained",
                ["jornaya"],
                token,
            )
        # Jornaya's simulator audited the token once; TrustedForm's was never called (no key sent)
        jornaya = stack.state["provider_simulator_urls"]["jornaya"]
        audits = httpx.get(f"{jornaya}/_simulator/requests", timeout=HTTP_TIMEOUT).json()
        assert [r["route"].lower() for r in audits if token in r["subjects"]] == ["/singlequery"], audits
        assert httpx.get(f"{stack.simulator_url}/_simulator/requests", timeout=HTTP_TIMEOUT).json() == []
        # its outcome reached the event bus and the example subscriber: no certificate, kept on its token
        [event] = lead_events(stack.state, answer["lead_id"])
        assert event["detail-type"] == "Lead Retained" and event["detail"]["certificate"] is None, event
        assert (
            event["detail"]["answer"]["kept_on"] == ["jornaya"] and event["detail"]["answer"]["leadid_token"] == token
        )
    finally:
        stack.kill()
