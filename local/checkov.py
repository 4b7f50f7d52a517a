"""`make validate`'s security scan: checkov (CloudFormation framework) over template.yaml as CloudFormation
deploys it, its Fn::ForEach loops expanded (local.provision.load_template: checkov does not expand them, and
would not see the queues and log groups they make).

    python -m local.checkov [--checkov PATH]

checkov runs from its own environment (.venv-checkov, installed from tools/checkov/uv.lock: it pins a boto3
older than the app's) with --skip-download: nothing is fetched. It scans the template with its inline skips
taken out, and this module weighs the findings against them (``Metadata: checkov: skip: [{id, comment}]``,
docs/security.md#checkov): a failed check that no skip explains fails the scan, and so do a skip that
matches no failed check (stale: checkov itself reports a skip as skipped whether or not the check would
fail) and a skip without a reason. tests/integration/local/test_checkov_skips.py holds the same rules.
Exits 0 when the scan is clean, 1 when not, 2 when checkov is missing or could not read the template.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.provision import REPO_ROOT, load_template

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
CHECK_ID = re.compile(r"CKV2?_AWS_[0-9]+")
# A reason is a sentence saying why the check does not apply here, not a word ("false positive", "n/a").
MIN_REASON_WORDS = 12


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str  # Type.LogicalId, as checkov names it
    name: str

    @property
    def logical_id(self) -> str:
        return self.resource.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Review:
    """checkov's findings on the template without its skips, weighed against those skips."""

    version: str
    passed: list[Finding]
    explained: list[Finding]  # failed, and skipped inline on that resource
    unexplained: list[Finding]  # failed, and nothing says why
    stale: list[tuple[str, str]]  # (logical id, check id) skipped where the check does not fail
    parsing_errors: int

    @property
    def clean(self) -> bool:
        return not (self.unexplained or self.stale or self.parsing_errors)


def _skips(template: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (logical_id, skip)
        for logical_id, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


def declared_skips(template: dict[str, Any]) -> list[tuple[str, str]]:
    """(logical id, check id) of every inline skip of the template."""
    return [
        (logical_id, str(skip.get("id") if isinstance(skip, dict) else skip)) for logical_id, skip in _skips(template)
    ]


def skip_problems(template: dict[str, Any]) -> list[str]:
    """What is wrong with the template's inline skips: each names one check (``CKV_AWS_n``/``CKV2_AWS_n``) once
    per resource and says why it does not apply, in a sentence (checkov itself takes a skip without one)."""
    problems, seen = [], set()
    for logical_id, skip in _skips(template):
        check_id = skip.get("id") if isinstance(skip, dict) else skip
        comment = skip.get("comment") if isinstance(skip, dict) else None
        if not isinstance(check_id, str) or not CHECK_ID.fullmatch(check_id):
            problems.append(f"{logical_id}: skip {check_id!r} names no checkov check (CKV_AWS_n)")
            continue
        if (logical_id, check_id) in seen:
            problems.append(f"{logical_id}: {check_id} skipped twice")
        seen.add((logical_id, check_id))
        reason = comment.strip() if isinstance(comment, str) else ""
        if len(reason.split()) < MIN_REASON_WORDS or not reason.endswith((".", ")")):
            problems.append(
                f"{logical_id}: {check_id} skipped without a reason (a sentence of {MIN_REASON_WORDS}+ words saying "
                "why the check does not apply here)"
            )
    return problems


def without_skips(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with every inline checkov skip taken out (what checkov says of it unexcused)."""
    bare = copy.deepcopy(template)
    for resource in bare["Resources"].values():
        metadata = resource.get("Metadata")
        if isinstance(metadata, dict) and metadata.pop("checkov", None) is not None and not metadata:
            del resource["Metadata"]
    return bare


def _findings(results: dict[str, Any], kind: str) -> list[Finding]:
    return [Finding(r["check_id"], r["resource"], r["check_name"]) for r in results.get(kind, [])]


def review(checkov: Path = CHECKOV, template: dict[str, Any] | None = None) -> Review:
    """checkov's verdict on ``template`` (template.yaml, expanded, by default), weighed against its skips."""
    template = template if template is not None else load_template()
    with tempfile.TemporaryDirectory(prefix="tf-checkov-") as folder:
        expanded = Path(folder) / "template.json"
        expanded.write_text(json.dumps(without_skips(template), indent=1, default=str), encoding="utf-8")
        command = [str(checkov), "--file", str(expanded), "--framework", "cloudformation"]
        command += ["--skip-download", "--compact", "--output", "json"]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603 - our own tool, fixed arguments
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise RuntimeError(f"checkov failed (exit {done.returncode}):\n{done.stderr.strip()}")
    report = json.loads(done.stdout)
    results, summary = report["results"], report["summary"]
    failed = _findings(results, "failed_checks")
    skips = set(declared_skips(template))
    failing = {(finding.logical_id, finding.check_id) for finding in failed}
    return Review(
        version=str(summary["checkov_version"]),
        passed=_findings(results, "passed_checks"),
        explained=[f for f in failed if (f.logical_id, f.check_id) in skips],
        unexplained=[f for f in failed if (f.logical_id, f.check_id) not in skips],
        stale=[pair for pair in declared_skips(template) if pair not in failing],
        parsing_errors=int(summary["parsing_errors"]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--checkov", type=Path, default=CHECKOV, help="the checkov executable (make validate's)")
    args = parser.parse_args(argv)
    if not args.checkov.exists():
        print(f"{args.checkov} is missing: make validate installs it (tools/checkov/uv.lock)", file=sys.stderr)
        return 2
    template = load_template()
    problems = skip_problems(template)
    try:
        result = review(args.checkov, template)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 2
    print(
        f"checkov {result.version}: {len(result.passed)} passed, {len(result.unexplained)} failed, "
        f"{len(result.explained)} skipped inline (each with its reason in template.yaml)"
    )
    for finding in result.unexplained:
        print(f"  FAILED {finding.check_id} {finding.resource}: {finding.name}")
    for logical_id, check_id in result.stale:
        print(f"  STALE SKIP {check_id} on {logical_id}: the check does not fail there; remove the skip")
    for problem in problems:
        print(f"  BAD SKIP {problem}")
    if result.parsing_errors:
        print(f"  {result.parsing_errors} parsing error(s)")
        return 2
    if not result.clean or problems:
        print("Fix the template, or skip a finding that does not apply with its reason (docs/security.md#checkov).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
