"""Who may write what in the table, as IAM decides it on the translated template (tests/support/iam.py
evaluates each role's statements, conditions included), issue 26:

* each role writes only the key families its job needs (dynamodb:LeadingKeys): intake, retry and sweeper
  never a vendor key, a vendor's callback, a rule set or a hold;
* no role can change a chain entry's content, hash or event type with an update, nor delete an item;
* replacing an entry whole (PutItem on a lead's key: IAM cannot condition a put on the item not existing)
  is left to the roles that append entries, and only those: docs/security.md says what that allows and
  what detects it.

The sample keys are made by store/keys.py, the only place that spells them, but for the families no code
writes: the vendor lead id item that was (a vendor's lead id names its lead now, and has no item) and one to
come. A grant left for either would let a role write items the service never reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from tf_retainer.store import keys

from local.provision import load_template
from tests.support.iam import Request, decide
from tests.support.sam import function_roles, grants, statements_of, translate

FAMILIES = {
    "lead": keys.lead_pk("0f3a9c"),
    "certificate": keys.cert_pk("6cb2fa7"),
    "leadid token": keys.leadid_pk("2B1C6E0A-5D3F-4A7B-9C8E-1F2A3B4C5D6E"),
    "the retired vendor lead id": "VENDOR#acme-leads#LEAD#A-1",
    "vendor key": keys.vendor_key_pk(keys.key_hash("a-vendor-key")),
    "vendor callback": keys.vendor_callback_pk("acme-leads"),
    "rule set": keys.rules_pk("acme-leads"),
    "hold": keys.hold_pk("3b9d0c41a7e2f615"),
    "screen result": keys.screen_result_pk("dnc", "5d0c5b7e9a41f2c3", None),
    "revocation": keys.revocation_pk("rv-1"),
    "revocation notice": keys.revoked_pk("phone", "9f2c4e"),
    "a family to come": "NEWFAMILY#x",
}
WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem")
NEVER = (
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
)


def both(families: set[str]) -> dict[str, set[str]]:
    return {action: set(families) for action in WRITES}


# What each function may write, by action: nothing else (every function of the template is listed).
EXPECTED = {
    # The screens' per-number results (when a screen is on): updated, never put.
    # A lead without a certificate claims its LeadiD token instead (issue 25). A lead retained after its
    # consumer's revocation was honoured is added to the revocation's leads.
    "IntakeFunction": {
        "dynamodb:PutItem": {"lead", "certificate", "leadid token"},
        "dynamodb:UpdateItem": {"lead", "certificate", "leadid token", "screen result", "revocation"},
    },
    "RetryFunction": {
        "dynamodb:PutItem": {"lead", "certificate", "leadid token"},
        "dynamodb:UpdateItem": {"lead", "certificate", "leadid token", "screen result", "revocation"},
    },
    "SweeperFunction": both({"lead"}),
    "HoldFunction": {
        "dynamodb:PutItem": {"lead", "certificate", "leadid token", "hold"},
        "dynamodb:UpdateItem": {"lead", "certificate", "leadid token", "hold"},
    },
    "ArchiverFunction": {"dynamodb:PutItem": set(), "dynamodb:UpdateItem": {"lead"}},
    "AutoSuspendFunction": both({"vendor key"}),
    "AuthorizerFunction": both(set()),
    "PublisherFunction": both(set()),
    "AnchorFunction": both(set()),  # the stream only: the anchors go to the archive bucket
    "CallbackFunction": both(set()),
    # a revocation, its notices under the consumer's tokens, and a consent_revoked entry on each lead
    "ConsentFunction": {
        "dynamodb:PutItem": {"lead", "revocation", "revocation notice"},
        "dynamodb:UpdateItem": {"revocation"},
    },
}
# The roles that append chain entries (a put on a lead's key), and the ones that move an item's expiry.
ENTRY_APPENDERS = {"IntakeFunction", "RetryFunction", "SweeperFunction", "HoldFunction", "ConsentFunction"}
EXPIRY_MOVERS = {"HoldFunction", "ArchiverFunction"}
ENTRY_ATTRIBUTES = ("pk", "sk", "b", "h", "o", "ttl")


@pytest.fixture(scope="module")
def translated() -> dict[str, Any]:
    return translate(load_template())


def writable(translated: dict[str, Any], function: str, action: str) -> set[str]:
    statements = statements_of(translated, function)
    return {
        family for family, pk in FAMILIES.items() if decide(statements, Request(action, (pk,), ("pk", "sk"))).allowed
    }


def test_every_function_is_listed(translated: dict[str, Any]) -> None:
    assert set(function_roles(translated)) == set(EXPECTED)


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_each_role_writes_only_the_key_families_it_needs(translated: dict[str, Any], function: str) -> None:
    for action, families in EXPECTED[function].items():
        assert writable(translated, function, action) == families, f"{function} {action}"
    for action in NEVER:
        assert writable(translated, function, action) == set(), f"{function} {action}"


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_no_role_can_update_or_delete_a_chain_entry_and_only_appenders_can_put_one(
    translated: dict[str, Any], function: str
) -> None:
    statements = statements_of(translated, function)
    lead = (FAMILIES["lead"],)
    for attribute in ("b", "h", "o"):
        request = Request("dynamodb:UpdateItem", lead, ("pk", "sk", attribute))
        assert not decide(statements, request).allowed, f"{function} may update an entry's {attribute}"
    expiry = decide(statements, Request("dynamodb:UpdateItem", lead, ("pk", "sk", "ttl"))).allowed
    assert expiry == (function in EXPIRY_MOVERS), f"{function}: moving an entry's expiry"
    replace = decide(statements, Request("dynamodb:PutItem", lead, ENTRY_ATTRIBUTES)).allowed
    assert replace == (function in ENTRY_APPENDERS), f"{function}: putting an entry"


def test_the_check_catches_a_role_that_writes_another_family() -> None:
    """The intake's writes back on the whole table (as before issue 26): the check names it."""
    template = load_template()
    for statement in template["Resources"]["IntakeFunction"]["Properties"]["Policies"][0]["Statement"]:
        if statement.get("Sid") == "LeadsWrite":
            del statement["Condition"]
    translated = translate(template)
    assert writable(translated, "IntakeFunction", "dynamodb:PutItem") == set(FAMILIES)


def test_only_the_callback_function_can_open_the_vendors_callback_secrets(translated: dict[str, Any]) -> None:
    """The secrets are sealed under CallbackSecretKey: its policy lets the callback function's role decrypt
    and nobody else (the account's statement, through which IAM grants, holds no Decrypt); the account may
    encrypt (the registration path); no role's own policy grants Decrypt on it (the key policy names the
    callback function's role itself)."""
    import fnmatch

    def grants_action(actions: Any, action: str) -> bool:
        listed = actions if isinstance(actions, list) else [actions]
        return any(fnmatch.fnmatchcase(action, pattern.lower()) for pattern in listed)

    policy = translated["Resources"]["CallbackSecretKey"]["Properties"]["KeyPolicy"]["Statement"]
    openers = [s["Principal"] for s in policy if s["Effect"] == "Allow" and grants_action(s["Action"], "kms:decrypt")]
    assert openers == [{"AWS": {"Fn::GetAtt": ["CallbackFunctionRole", "Arn"]}}]
    sealers = [s["Principal"] for s in policy if s["Effect"] == "Allow" and grants_action(s["Action"], "kms:encrypt")]
    assert sealers == [{"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}]
    roles = function_roles(translated)
    decrypting = {
        function
        for function, role in roles.items()
        for grant in grants(translated)
        if grant.role == role
        and grant.statement["Effect"] == "Allow"
        and grants_action(grant.statement["Action"], "kms:decrypt")
        and "<CallbackSecretKey.Arn>" in grant.resources()
    }
    assert decrypting == set()


@pytest.mark.parametrize("function", ["IntakeFunction", "RetryFunction"])
def test_a_screen_result_is_updated_in_its_own_attributes_only(translated: dict[str, Any], function: str) -> None:
    """The screens' carve-out from NoEvidenceEdits (a per-number result's expiry moves with each answer) opens
    their own attributes on their own key family, and nothing of a lead's."""
    statements = statements_of(translated, function)
    screen, lead = (FAMILIES["screen result"],), (FAMILIES["lead"],)
    own = ("pk", "sk", "result", "checked_at", "lease_owner", "lease_until", "ttl")
    assert decide(statements, Request("dynamodb:UpdateItem", screen, own)).allowed
    for other in ("status", "s", "b", "h", "o"):
        assert not decide(statements, Request("dynamodb:UpdateItem", screen, ("pk", "sk", other))).allowed, other
    assert not decide(statements, Request("dynamodb:PutItem", screen, own)).allowed
    assert not decide(statements, Request("dynamodb:UpdateItem", lead, ("pk", "sk", "ttl"))).allowed
    both_families = (FAMILIES["screen result"], FAMILIES["lead"])  # a request naming a lead too is denied
    assert not decide(statements, Request("dynamodb:UpdateItem", both_families, ("pk", "sk", "ttl"))).allowed


@pytest.mark.parametrize("function", ["IntakeFunction", "RetryFunction"])
def test_a_revocation_is_updated_by_a_lead_in_its_leads_only(translated: dict[str, Any], function: str) -> None:
    """A lead taken after a revocation was honoured adds itself to the revocation's list and count: nothing
    else of the revocation (its honoured time, its scope, its words) can the intake or retry roles change."""
    statements = statements_of(translated, function)
    revocation = (FAMILIES["revocation"],)
    assert decide(statements, Request("dynamodb:UpdateItem", revocation, ("lead_count", "leads", "pk", "sk"))).allowed
    for other in ("honored_at", "scope", "message", "gsi2pk", "expressed_at"):
        update = Request("dynamodb:UpdateItem", revocation, ("pk", "sk", other))
        assert not decide(statements, update).allowed, other
    assert not decide(statements, Request("dynamodb:PutItem", revocation, ("pk", "sk", "leads"))).allowed
    notice = (FAMILIES["revocation notice"],)
    assert not decide(statements, Request("dynamodb:UpdateItem", notice, ("pk", "sk", "leads"))).allowed


def test_only_the_intake_and_retry_roles_can_seal_or_open_a_screened_number(translated: dict[str, Any]) -> None:
    """Screened phone numbers are sealed under ContactKey: its policy lets the intake seal and open one and
    the retry worker open one, each only with a lead id as the encryption context; the account's statement
    (through which IAM grants) holds neither, and no role's own policy names the key."""
    import fnmatch

    def grants_action(actions: Any, action: str) -> bool:
        listed = actions if isinstance(actions, list) else [actions]
        return any(fnmatch.fnmatchcase(action, pattern.lower()) for pattern in listed)

    policy = translated["Resources"]["ContactKey"]["Properties"]["KeyPolicy"]["Statement"]

    def principals(action: str) -> list[Any]:
        return [s["Principal"] for s in policy if s["Effect"] == "Allow" and grants_action(s["Action"], action)]

    intake, retry = ({"AWS": {"Fn::GetAtt": [role, "Arn"]}} for role in ("IntakeFunctionRole", "RetryFunctionRole"))
    assert principals("kms:decrypt") == [intake, retry]
    assert principals("kms:encrypt") == [intake]
    assert not principals("kms:reencryptfrom") and not principals("kms:creategrant")
    for statement in policy:
        if statement["Principal"] in (intake, retry):
            assert statement["Condition"] == {"Null": {"kms:EncryptionContext:lead_id": "false"}}
    assert not [
        grant
        for grant in grants(translated)
        if "<ContactKey.Arn>" in grant.resources() and grant.statement["Effect"] == "Allow"
    ]
