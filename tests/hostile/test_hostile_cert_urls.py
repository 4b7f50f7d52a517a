"""The API key only ever goes to the configured TrustedForm endpoint, whatever certificate URL a vendor sends.

parse_certificate_url directly (thousands of cases): a URL is refused with ``invalid_certificate_url`` or
names a certificate whose URL is exactly ``https://cert.trustedform.com/<id>`` - and two independent URL
parsers (httpx's and urllib3's) agree the input named that host and that id. Through the stack (fewer):
either refused, sending nothing, or the only requests made went to the simulator for that id, and the
stored exchange says so.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

import httpx
import urllib3.util
from hypothesis import given
from hypothesis import strategies as st
from tf_retainer.api.parsing import FORM, JSON
from tf_retainer.providers.trustedform.certificates import (
    CANONICAL_BASE,
    CERT_HOST,
    InvalidCertificateUrl,
    parse_certificate_url,
)

from tests.support.hostile import (
    accepted_variants,
    check_answer,
    freshen,
    good_emails,
    good_phones,
    hostile_urls,
    marked_ids,
    parse_budget,
    post_raw,
    record,
    stack_budget,
)

ID_FORMS = (r"[0-9a-f]{40}", r"[A-Za-z0-9_-]{80}", r"0\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _first_entry(raw: str) -> str:
    return next(entry.strip() for entry in raw.split(",") if entry.strip())


def _same_id(path: str, cert_id: str) -> bool:
    return path == f"/{cert_id}" or (len(cert_id) == 40 and path.lower() == f"/{cert_id}")


def _independent_parsers_agree(raw: str, cert_id: str) -> None:
    """What we accepted, other parsers read as the same host, no user info, no other port, the same id."""
    entry = _first_entry(raw).split("#", 1)[0]
    url = httpx.URL(entry)
    assert url.scheme in ("http", "https") and url.host == CERT_HOST, (url.scheme, url.host)
    assert url.userinfo == b"" and url.port in (None, 443), (url.userinfo, url.port)
    assert _same_id(url.raw_path.decode("ascii").split("?", 1)[0], cert_id), url.raw_path
    parsed = urllib3.util.parse_url(entry)
    assert parsed.scheme in ("http", "https") and parsed.host == CERT_HOST, (parsed.scheme, parsed.host)
    assert parsed.auth is None and parsed.port in (None, 443), (parsed.auth, parsed.port)
    assert _same_id(parsed.path or "", cert_id), parsed.path


def _refused_or_canonical(raw: str) -> str | None:
    """The cert id when accepted (after checking the acceptance), None when refused."""
    try:
        cert = parse_certificate_url(raw)
    except InvalidCertificateUrl as refused:
        assert refused.reason == "invalid_certificate_url"
        return None
    assert any(re.fullmatch(form, cert.cert_id) for form in ID_FORMS), cert.cert_id
    assert cert.url == f"{CANONICAL_BASE}/{cert.cert_id}"
    assert httpx.URL(cert.url).host == CERT_HOST and httpx.URL(cert.url).path == f"/{cert.cert_id}"
    _independent_parsers_agree(raw, cert.cert_id)
    return cert.cert_id


@parse_budget()
@given(raw=hostile_urls())
def test_a_hostile_certificate_url_is_refused_or_names_a_certificate_on_cert_trustedform_com(raw: str) -> None:
    cert_id = _refused_or_canonical(raw)
    record("parse: hostile URLs", "accepted" if cert_id else "invalid_certificate_url")


@parse_budget()
@given(variant=accepted_variants())
def test_every_documented_form_of_a_good_certificate_url_is_accepted(variant: tuple[str, str]) -> None:
    raw, cert_id = variant
    assert _refused_or_canonical(raw) == cert_id
    record("parse: documented forms", "accepted")


def test_hostile_certificate_urls_through_the_stack_reach_only_the_simulator(stack, outbound):
    @stack_budget()
    @given(
        marked=hostile_urls(surrogates=False, ids=marked_ids),
        form=st.booleans(),
        contact=st.fixed_dictionaries({}, optional={"email": good_emails, "phone": good_phones}).filter(bool),
    )
    def only_the_simulator(marked: str, form: bool, contact: dict[str, Any]) -> None:
        raw = freshen(marked)
        if form:
            body = urlencode({"xxTrustedFormCertUrl": raw, **contact}).encode()
        else:
            body = json.dumps({"trustedform_cert_url": raw, **contact}).encode()
        before = len(stack.sim.requests)
        verdict = check_answer(stack, post_raw(stack, "stack: hostile URLs", body, FORM if form else JSON), before)
        if verdict.reason == "invalid_certificate_url":
            assert verdict.sent == []
            return
        cert_id = _refused_or_canonical(raw)  # the service accepted it: so must the parser, canonically
        assert cert_id is not None, f"{raw!r} accepted by the service ({verdict.status}) but not by the parser"
        answer = verdict.answer
        assert answer["cert_id"] == cert_id and answer["certificate_url"] == f"{CANONICAL_BASE}/{cert_id}", answer
        assert all(request["path"] == f"/{cert_id}" for request in verdict.sent), verdict.sent
        for exchange in stack.reader.read_lead(answer["lead_id"]).exchanges:
            assert exchange["request"]["url"] == f"{stack.sim.base_url}/{cert_id}", exchange["request"]["url"]

    only_the_simulator()
    # Every HTTP request, with the key or without, went to the simulator (the fixture also checks every
    # connection and name lookup), and some did: the property saw accepted URLs, not only refusals.
    assert all(url.startswith(f"{stack.sim.base_url}/") for url, _ in outbound.requests)
    assert any(carried_key for _, carried_key in outbound.requests)
