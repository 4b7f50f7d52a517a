"""API Gateway (REST, Lambda proxy) as template.yaml declares it, in-process.

Routes come from the functions' Api events, the vendor check from the API's REQUEST authorizer,
and the authorizer's 401/403 bodies from its GatewayResponses, so the local API answers like the
deployed one: same events in, same responses out.

Functions run through ``invoke`` (by default :func:`local.functions.invoke`, in this process; the local
stack passes a :class:`local.functions.WorkerPool`'s). ``handle`` is thread-safe as far as the gateway
goes: the authorizer cache is shared, as one API Gateway stage's is.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local.functions import invoke
from local.provision import load_template

ACCOUNT_ID = "123456789012"
API_ID = "local"
AUTHORIZER_VARIABLE = re.compile(r"\$context\.authorizer\.([A-Za-z0-9_]+)")


class AuthorizerFailed(Exception):
    """The authorizer raised (not its "Unauthorized"): API Gateway answers AUTHORIZER_FAILURE."""


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # "/leads/{lead_id}"
    function: str
    pattern: re.Pattern[str]


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LocalApiGateway:
    def __init__(
        self,
        stage: str = "local",
        *,
        authorizer_ttl: float | None = None,
        invoke: Callable[[str, dict[str, Any]], Any] | None = None,
    ) -> None:
        template = load_template()
        api = template["Resources"]["LeadsApi"]["Properties"]
        auth = api["Auth"]
        authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
        self.stage = stage
        self.authorizer_function = authorizer["FunctionArn"]["Fn::GetAtt"][0]
        self.identity_headers = [h.lower() for h in authorizer["Identity"]["Headers"]]
        self.authorizer_ttl = (
            authorizer["Identity"].get("ReauthorizeEvery", 300) if authorizer_ttl is None else authorizer_ttl
        )
        self.gateway_responses = api.get("GatewayResponses", {})
        self.routes = list(_routes(template))
        self._auth_cache: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._invoke = invoke

    def handle(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        source_ip: str = "127.0.0.1",
        query: dict[str, str] | None = None,
    ) -> ApiResponse:
        headers = {k: v for k, v in headers.items()}
        lower = {k.lower(): v for k, v in headers.items()}
        route, params = self._match(method.upper(), path)
        if route is None:
            return _json_response(
                404 if not self._path_known(path) else 405,
                {"message": "Missing Authentication Token"}
                if not self._path_known(path)
                else {"message": "Method Not Allowed"},
            )
        if any(not lower.get(h) for h in self.identity_headers):
            return self._gateway_response("UNAUTHORIZED", 401)
        try:
            decision = self._authorize(route, path, headers, lower, params, source_ip)
        except AuthorizerFailed:  # API Gateway's own answer, uncached: the next request asks again
            return self._gateway_response("AUTHORIZER_FAILURE", 500)
        if decision is None:
            return self._gateway_response("UNAUTHORIZED", 401)
        if not _allows(decision):
            return self._gateway_response("ACCESS_DENIED", 403, authorizer=decision.get("context") or {})
        event = self._proxy_event(route, path, headers, body, params, query, source_ip, decision)
        result = self.invoke(route.function, event)
        return _from_proxy_result(result)

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        return (self._invoke or invoke)(function, event)

    # --- routing and authorisation ------------------------------------------------------------

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            m = route.pattern.fullmatch(path)
            if m and route.method == method:
                return route, m.groupdict()
        return None, {}

    def _path_known(self, path: str) -> bool:
        return any(route.pattern.fullmatch(path) for route in self.routes)

    def _authorize(
        self,
        route: Route,
        path: str,
        headers: dict[str, str],
        lower: dict[str, str],
        params: dict[str, str],
        source_ip: str,
    ) -> dict[str, Any] | None:
        cache_key = "|".join(lower[h] for h in self.identity_headers)
        cached = self._auth_cache.get(cache_key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        event = {
            "type": "REQUEST",
            "methodArn": f"arn:aws:execute-api:us-east-1:{ACCOUNT_ID}:{API_ID}/{self.stage}/{route.method}{path}",
            "resource": route.resource,
            "path": path,
            "httpMethod": route.method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": self._request_context(route, path, source_ip, lower),
        }
        try:
            decision = self.invoke(self.authorizer_function, event)
        except Exception as exc:
            if str(exc) != "Unauthorized":
                raise AuthorizerFailed(type(exc).__name__) from exc
            decision = None
        if self.authorizer_ttl:
            self._auth_cache[cache_key] = (time.monotonic() + self.authorizer_ttl, decision)
        return decision

    def _gateway_response(self, kind: str, status: int, *, authorizer: dict[str, Any] | None = None) -> ApiResponse:
        spec = self.gateway_responses.get(kind, {})
        body = spec.get("ResponseTemplates", {}).get("application/json", '{"message":"Unauthorized"}')
        # API Gateway fills $context.authorizer.<key> from a Deny's context (absent keys: empty).
        body = AUTHORIZER_VARIABLE.sub(lambda m: str((authorizer or {}).get(m.group(1), "")), body)
        # Header values are mapping expressions: a quoted literal ("'5'") is the value 5.
        declared = spec.get("ResponseParameters", {}).get("Headers", {})
        headers = {"Content-Type": "application/json"} | {name: str(v).strip("'") for name, v in declared.items()}
        return ApiResponse(int(spec.get("StatusCode", status)), headers, body.encode())

    # --- events -------------------------------------------------------------------------------

    def _request_context(self, route: Route, path: str, source_ip: str, lower: dict[str, str]) -> dict[str, Any]:
        return {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "resourcePath": route.resource,
            "httpMethod": route.method,
            "path": f"/{self.stage}{path}",
            "stage": self.stage,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": lower.get("user-agent"), "apiKey": lower.get("x-api-key")},
        }

    def _proxy_event(
        self,
        route: Route,
        path: str,
        headers: dict[str, str],
        body: bytes,
        params: dict[str, str],
        query: dict[str, str] | None,
        source_ip: str,
        decision: dict[str, Any],
    ) -> dict[str, Any]:
        lower = {k.lower(): v for k, v in headers.items()}
        context = self._request_context(route, path, source_ip, lower)
        context["authorizer"] = {
            "principalId": decision.get("principalId"),
            "integrationLatency": 0,
            **(decision.get("context") or {}),
        }
        try:
            text, is_base64 = (body.decode("utf-8"), False) if body else (None, False)
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode(), True
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": route.method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": context,
            "body": text,
            "isBase64Encoded": is_base64,
        }


def _routes(template: dict[str, Any]):
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            resource_path = event["Properties"]["Path"]
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(resource_path))
            yield Route(event["Properties"]["Method"].upper(), resource_path, logical_id, re.compile(regex))


def _allows(decision: dict[str, Any]) -> bool:
    statements = decision.get("policyDocument", {}).get("Statement", [])
    return bool(statements) and all(s.get("Effect") == "Allow" for s in statements)


def _json_response(status: int, payload: Any) -> ApiResponse:
    return ApiResponse(status, {"Content-Type": "application/json"}, json.dumps(payload).encode())


def _from_proxy_result(result: dict[str, Any]) -> ApiResponse:
    headers = dict(result.get("headers") or {})
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ",".join(values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
    return ApiResponse(int(result.get("statusCode", 200)), headers, body)
