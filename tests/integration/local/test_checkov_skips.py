"""checkov (the security team's scanner, CloudFormation framework) finds nothing in template.yaml that is not
explained: every failed check is fixed, or skipped inline on its resource with the reason
(``Metadata: checkov: skip: [{id, comment}]``), and each skipped check is listed in docs/security.md#checkov.

The skips' form is checked on the template itself; the scan runs checkov from its own environment
(.venv-checkov, tools/checkov/uv.lock), which `make test` and `make validate` install: it is skipped, and
says so, where that environment is missing. `make validate` runs the same scan (local/checkov.py).
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from local.checkov import CHECKOV, declared_skips, review, skip_problems
from local.provision import REPO_ROOT, load_template

SECURITY_DOC = REPO_ROOT / "docs" / "security.md"
needs_checkov = pytest.mark.skipif(
    not CHECKOV.exists(), reason=f"{CHECKOV} is missing (make validate / make test install tools/checkov/uv.lock)"
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def _with_skip(template: dict[str, Any], logical_id: str, skip: Any) -> dict[str, Any]:
    changed = copy.deepcopy(template)
    resource = changed["Resources"][logical_id]
    resource.setdefault("Metadata", {}).setdefault("checkov", {}).setdefault("skip", []).append(skip)
    return changed


def test_every_skip_names_a_check_and_says_why(template: dict[str, Any]) -> None:
    assert declared_skips(template), "the template skips nothing: then this test and the docs' table go too"
    assert skip_problems(template) == []


@pytest.mark.parametrize(
    ("skip", "complaint"),
    [
        ({"id": "CKV_AWS_27"}, "without a reason"),
        ({"id": "CKV_AWS_27", "comment": "false positive"}, "without a reason"),
        ("CKV_AWS_27", "without a reason"),
        (
            {"id": "queue-encryption", "comment": "A long enough sentence that still names no check at all here."},
            "names no",
        ),
        (
            {
                "id": "CKV_AWS_117",
                "comment": "Again: a sentence long enough to be a reason, but this resource skips it already.",
            },
            "twice",
        ),
    ],
)
def test_a_skip_without_a_reason_or_a_check_is_refused(template: dict[str, Any], skip: Any, complaint: str) -> None:
    changed = _with_skip(template, "IntakeFunction", skip)
    (problem,) = skip_problems(changed)
    assert problem.startswith("IntakeFunction: ") and complaint in problem


def test_every_skipped_check_is_explained_in_the_security_doc(template: dict[str, Any]) -> None:
    """A new kind of exception is a decision for the security review, not only for the template."""
    section = SECURITY_DOC.read_text(encoding="utf-8").split("\n## checkov\n", 1)[1].split("\n## ", 1)[0]
    table = {match for match in re.findall(r"^\| (CKV2?_AWS_[0-9]+) \|", section, flags=re.MULTILINE)}
    skipped = {check_id for _, check_id in declared_skips(template)}
    assert skipped - table == set(), "skipped in template.yaml but not in docs/security.md#checkov"
    assert table - skipped == set(), "in docs/security.md#checkov but skipped nowhere"


@needs_checkov
def test_checkov_finds_nothing_unexplained(template: dict[str, Any]) -> None:
    result = review(CHECKOV, template)
    assert result.parsing_errors == 0
    assert [(f.check_id, f.resource) for f in result.unexplained] == []
    assert result.stale == [], "a skip where the check does not fail: remove it"
    assert len(result.explained) == len(declared_skips(template))
    # checkov saw the resources the template's loops make (it does not expand Fn::ForEach itself).
    seen = {f.logical_id for f in result.passed + result.explained}
    looped = {"RetryDeadLetterQueue", "CallbackDeadLetterQueue", "IntakeFunctionLogGroup", "AnchorFunctionLogGroup"}
    assert looped <= seen


@needs_checkov
def test_the_scan_fails_on_a_new_finding_and_on_a_stale_skip(template: dict[str, Any]) -> None:
    """The check bites: a queue back on SQS's own key is a failed check nothing explains, a skip left where
    the check passes is stale (one scan for both)."""
    changed = copy.deepcopy(template)
    queue = changed["Resources"]["RetryQueue"]["Properties"]
    del queue["KmsMasterKeyId"]
    queue["SqsManagedSseEnabled"] = True
    reason = "Would be wrong: the service key is rotated, and nothing asks for this skip at all."
    changed = _with_skip(changed, "ServiceKey", {"id": "CKV_AWS_7", "comment": reason})
    result = review(CHECKOV, changed)
    assert [(f.check_id, f.resource) for f in result.unexplained] == [("CKV_AWS_27", "AWS::SQS::Queue.RetryQueue")]
    assert result.stale == [("ServiceKey", "CKV_AWS_7")]
    assert not result.clean
