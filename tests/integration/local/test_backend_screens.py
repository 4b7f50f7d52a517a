"""local.backend with the screens on: the providers' simulators a deployment would choose are started and
provisioned as that deployment is (template parameters, their keys' secrets, the contact key), for the local
stack (LOCAL_SCREENS) and the tests' screened stacks alike; they stop with the backend."""

from __future__ import annotations

import json

import httpx
import pytest
from tf_retainer.runtime.screening_settings import parse_screens

from local.backend import Backend
from local.providers import LocalProviders, provider_key, start_simulators

TF_KEY = "backend-tf-key-0123456789abcdef"


def secret(backend: Backend, secret_id: str) -> dict[str, str]:
    value = backend.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    return dict(json.loads(value))


def test_a_backend_with_screens_runs_their_simulators_as_a_deployment_choosing_them_would() -> None:
    with Backend(TF_KEY, moto="in-process", screens="dnc=dncscrub,leadid=jornaya") as backend:
        assert backend.providers is not None
        sims = dict(backend.providers.simulators)
        env = backend.function_environment()
        assert set(sims) == {"dncscrub", "jornaya"}
        assert parse_screens(env["SCREENS"]) == {"dnc": "dncscrub", "leadid": "jornaya"}
        assert env["DNCSCRUB_API_URL"] == env["DNCSCRUB_DATA_API_URL"] == sims["dncscrub"].base_url
        assert env["JORNAYA_API_URL"] == sims["jornaya"].base_url
        assert secret(backend, env["DNCSCRUB_SECRET_ID"]) == {"api_key": provider_key("dncscrub")}
        assert secret(backend, env["JORNAYA_SECRET_ID"])["account_code"] == provider_key("jornaya")
        assert env["CONTACT_KEY_ID"] and not env["TWILIO_LOOKUP_SECRET_ID"]  # twilio is not chosen
        assert httpx.get(f"{sims['dncscrub'].base_url}/_simulator/requests", timeout=10).status_code == 200
    for sim in sims.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{sim.base_url}/_simulator/requests", timeout=2)


def test_a_screened_environment_leaves_the_backends_own_as_it_was() -> None:
    sims = start_simulators(["twilio_lookup"], "127.0.0.1")
    try:
        with Backend(TF_KEY, moto="in-process") as backend:
            before = backend.function_environment()
            screened = backend.screened_environment(LocalProviders.of({"phone": "twilio_lookup"}, sims))
            assert parse_screens(screened["SCREENS"]) == {"phone": "twilio_lookup"}
            assert screened["TWILIO_LOOKUP_API_URL"] == sims["twilio_lookup"].base_url
            assert secret(backend, screened["TWILIO_LOOKUP_SECRET_ID"])["api_key_secret"] == provider_key(
                "twilio_lookup"
            )
            assert backend.function_environment() == before and parse_screens(before["SCREENS"]) == {}
    finally:
        for sim in sims.values():
            sim.stop()
