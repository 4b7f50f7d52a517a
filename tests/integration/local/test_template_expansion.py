"""template.yaml as CloudFormation gets it: what ``load_template`` hands every reader is a recorded fact.

template_resources.json holds, for every resource, its type, its physical name (where the template sets
one) and a digest of its whole definition (properties, policies, conditions), and a digest of each
condition and output. Any change to what the template deploys changes the record: one made on purpose
is recorded again with ``python -m tests.integration.local.test_template_expansion``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from local.provision import load_template

RECORD = Path(__file__).with_name("template_resources.json")
# The properties that give a resource its physical name; without one, CloudFormation makes it up from the
# stack name and the logical id.
NAME_PROPERTIES = ("AlarmName", "DashboardName", "LayerName", "LogGroupName", "Name", "QueueName")


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def resource_record(resource: dict[str, Any]) -> dict[str, Any]:
    properties = resource.get("Properties", {})
    names = {key: properties[key] for key in NAME_PROPERTIES if key in properties}
    return {"Type": resource["Type"], **names, "digest": digest(resource)}


def record(template: dict[str, Any]) -> dict[str, Any]:
    return {
        "Resources": {logical_id: resource_record(body) for logical_id, body in template["Resources"].items()},
        "Conditions": {name: digest(body) for name, body in template.get("Conditions", {}).items()},
        "Outputs": {name: digest(body) for name, body in template.get("Outputs", {}).items()},
    }


def written(recorded: dict[str, Any]) -> str:
    return json.dumps(recorded, indent=2, sort_keys=True) + "\n"


def test_the_template_deploys_what_was_recorded() -> None:
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    found = record(load_template())
    for section in ("Resources", "Conditions", "Outputs"):
        changed = sorted(
            name
            for name in found[section].keys() | recorded[section].keys()
            if found[section].get(name) != recorded[section].get(name)
        )
        assert not changed, (
            f"{section} {changed} differ from {RECORD.name}; if that is the change you meant, record it again: "
            "python -m tests.integration.local.test_template_expansion"
        )


if __name__ == "__main__":
    RECORD.write_text(written(record(load_template())), encoding="utf-8")
    print(f"recorded {RECORD}")
