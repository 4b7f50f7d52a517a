"""Nothing a vendor sends can crash the service: hypothesis-built bodies through the real gateway, authorizer
and intake handler (moto, the TrustedForm simulator on loopback).

Every answer: never a 5xx nor an exception; JSON; every 4xx has a machine-readable reason; an input refusal
sent nothing to TrustedForm; the TrustedForm API key (plain or in its Basic form) is never in an answer,
and no stored item holds it; nothing but the simulator was ever reached.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tf_retainer.api.parsing import FORM, JSON

from tests.support.hostile import (
    SECRETS,
    check_answer,
    content_types,
    encode,
    form_bodies,
    freshen_bytes,
    json_documents,
    post_raw,
    raw_bodies,
    stack_budget,
)


def _post_and_check(stack: Any, prop: str, raw: bytes, content_type: str | None, header: str = "Content-Type") -> None:
    before = len(stack.sim.requests)
    response = post_raw(stack, prop, freshen_bytes(raw), content_type, header=header)
    verdict = check_answer(stack, response, before)
    if verdict.sent:  # what reached TrustedForm is on record, sent to the simulator and nowhere else
        exchanges = stack.reader.read_lead(verdict.answer["lead_id"]).exchanges
        for exchange in exchanges:
            assert exchange["request"]["url"] == f"{stack.sim.base_url}/{verdict.answer['cert_id']}", exchange


def _nothing_stored_holds_the_key(stack: Any) -> None:
    stored = json.dumps(stack.all_items(), default=str)
    for secret in SECRETS:
        assert secret not in stored, "the TrustedForm API key is in the lead store"


def test_json_bodies_never_crash_the_service(stack, outbound):
    @stack_budget()
    @given(
        text=json_documents(),
        content_type=st.sampled_from((JSON, "application/json; charset=utf-8", "Application/JSON")),
    )
    def body_is_answered(text: str, content_type: str) -> None:
        _post_and_check(stack, "json bodies", encode(text), content_type)

    body_is_answered()
    _nothing_stored_holds_the_key(stack)


def test_form_bodies_never_crash_the_service(stack, outbound):
    @stack_budget()
    @given(body=form_bodies(), content_type=st.sampled_from((FORM, FORM + "; charset=UTF-8", FORM.upper())))
    def body_is_answered(body: str, content_type: str) -> None:
        _post_and_check(stack, "form bodies", encode(body), content_type)

    body_is_answered()
    _nothing_stored_holds_the_key(stack)


def test_any_bytes_with_any_content_type_never_crash_the_service(stack, outbound):
    @stack_budget()
    @given(
        raw=raw_bodies,
        content_type=content_types,
        header=st.sampled_from(("Content-Type", "content-type", "CONTENT-TYPE")),
    )
    def body_is_answered(raw: bytes, content_type: str | None, header: str) -> None:
        _post_and_check(stack, "any bytes, any content type", raw, content_type, header)

    body_is_answered()
    _nothing_stored_holds_the_key(stack)
