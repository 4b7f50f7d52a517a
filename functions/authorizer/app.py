"""REQUEST authorizer: the vendor's x-api-key -> its identity, from DynamoDB (no deploy to add/revoke). A
buyer-system key (the buyer's CRM, dialer or SMS platform) carries ``role: buyer`` in the context.

Unknown key: 401 (raise "Unauthorized"). Revoked key, or a suspended vendor's key: an explicit Deny,
which API Gateway answers 403; the Deny's context carries the reason (vendor_key_revoked or
vendor_suspended) that the ACCESS_DENIED gateway response puts in its body.
The key itself is returned as usageIdentifierKey so the usage plan throttles per vendor.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.data_classes import event_source
from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerRequestEvent,
    APIGatewayAuthorizerResponse,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from tf_retainer import wiring
from tf_retainer.runtime.observability import logger

KEY_LENGTHS = range(16, 257)


@event_source(data_class=APIGatewayAuthorizerRequestEvent)
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: APIGatewayAuthorizerRequestEvent, context: LambdaContext) -> dict:
    api_key = event.headers.get("x-api-key") or event.headers.get("X-Api-Key") or ""
    record = wiring.vendor_keys().lookup(api_key) if len(api_key) in KEY_LENGTHS else None
    if record is None:
        logger.info("unknown vendor key")
        raise Exception("Unauthorized")
    refusal = record.refusal
    arn = event.parsed_arn
    policy = APIGatewayAuthorizerResponse(
        principal_id=record.vendor,
        region=arn.region,
        aws_account_id=arn.aws_account_id,
        api_id=arn.api_id,
        stage=arn.stage,
        context={
            "vendor": record.vendor,
            **({"role": record.role} if record.role != "vendor" else {}),
            **({"reason": refusal} if refusal else {}),
        },
        usage_identifier_key=api_key,
    )
    if refusal is None:
        policy.allow_all_routes()
    else:
        logger.info("vendor key refused", extra={"vendor": record.vendor, "reason": refusal})
        policy.deny_all_routes()
    return policy.asdict()
