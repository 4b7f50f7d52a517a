"""A buyer's rule set as the operator writes and reads it (tf_retainer.decisions.rules): parsed and validated
from a JSON (or YAML) file, one rule's mode flipped, shown line by line. Every error names its field.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from tf_retainer.decisions.rulebook import DEFAULT_SCOPE, RuleSetVersion
from tf_retainer.decisions.rules import Rule, RuleSet

from .target import OpsError

MODES = ("enforce", "shadow", "off")
# Rules with a mode (certificate_reuse is a policy: reject or share).
MODE_RULES = tuple(name for name in RuleSet.model_fields if name != "certificate_reuse")


class RulesInvalid(Exception):
    """A rule set that does not validate: one line per error, each naming the field."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _rule_models() -> dict[str, type[BaseModel]]:
    models = {}
    for name, info in RuleSet.model_fields.items():
        for arg in get_args(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                models[name] = arg
    return models


RULE_MODELS = _rule_models()


def read_rule_set(source: str, *, stdin: Any = None) -> RuleSet:
    """A rule set from a JSON (or, with pyyaml, YAML) file, or ``-`` for standard input; RulesInvalid
    with every error when it does not validate."""
    name = "standard input" if source == "-" else source
    try:
        text = (stdin or sys.stdin).read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise OpsError(f"cannot read {name}: {exc.strerror or exc}") from exc
    return parse_rule_set(text, yaml_ok=source == "-" or source.endswith((".yaml", ".yml")))


def parse_rule_set(text: str, *, yaml_ok: bool = False) -> RuleSet:
    try:
        data = json.loads(text)
    except ValueError as exc:
        data = _yaml(text) if yaml_ok else None
        if data is None:
            raise RulesInvalid([f"(file): not valid JSON: {exc}"]) from exc
    if not isinstance(data, dict):
        raise RulesInvalid(['(file): a rule set is a JSON object of rules, e.g. {"bot_detected": {"mode": "shadow"}}'])
    nulls = [name for name, value in data.items() if value is None and name in RuleSet.model_fields]
    if nulls:
        # The store leaves None out of an item: an explicit null would silently vanish from the version.
        raise RulesInvalid(
            [
                f'{name}: null is not kept by the store; to turn the rule off write its object with "mode": "off"'
                for name in nulls
            ]
        )
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise RulesInvalid(describe_errors(exc)) from exc


def _yaml(text: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def describe_errors(exc: ValidationError) -> list[str]:
    """pydantic's errors as one line each: ``field.path: what is wrong (got value)``."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        where = ".".join(loc) or "(rule set)"
        kind, given = error["type"], error.get("input")
        if kind == "extra_forbidden" and len(loc) == 1:
            message = f"unknown rule (known: {', '.join(RuleSet.model_fields)})"
        elif kind == "extra_forbidden":
            model = RULE_MODELS.get(loc[0])
            known = ", ".join(model.model_fields) if model else "?"
            message = f"unknown field of {loc[0]} (known: {known})"
        elif kind == "model_type":
            message = 'should be an object, e.g. {"mode": "shadow", ...}'
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        if kind not in ("extra_forbidden", "missing") and not isinstance(given, dict):
            message += f" (got {json.dumps(given, default=str)})"
        lines.append(f"{where}: {message}")
    return lines


def parse_mode(text: str) -> tuple[str, str]:
    rule, sep, mode = text.partition("=")
    rule, mode = rule.strip(), mode.strip()
    if not sep or rule not in MODE_RULES or mode not in MODES:
        raise argparse.ArgumentTypeError(
            f"expected RULE=MODE, RULE one of {', '.join(MODE_RULES)}; MODE {'|'.join(MODES)}"
        )
    return rule, mode


def flip(rules: RuleSet, changes: list[tuple[str, str]], *, where: str) -> RuleSet:
    """The rule set with each named rule's mode changed (a rule with no parameters may be added)."""
    data = rules.model_dump(mode="json", exclude_unset=True)
    for rule, mode in changes:
        if data.get(rule) is None:
            model = RULE_MODELS.get(rule)
            if model is not Rule:
                raise OpsError(f"{rule} is not in {where}: set it (with its parameters) from a file first")
            data[rule] = {}
        data[rule]["mode"] = mode
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:  # not expected: a mode is always valid
        raise RulesInvalid(describe_errors(exc)) from exc


def rule_lines(rules: RuleSet) -> list[str]:
    lines = []
    for name in RuleSet.model_fields:
        value = getattr(rules, name)
        if value is None:
            continue
        if isinstance(value, Rule):
            params = value.model_dump(mode="json", exclude={"mode"}, exclude_none=True)
            text = " ".join(f"{k}={json.dumps(v)}" for k, v in params.items())
            lines.append(f"  {name:<19} {value.mode:<8} {text}".rstrip())
        else:
            lines.append(f"  {name:<19} {value}")
    return lines or ["  (no rules)"]


def stored_dict(stored: RuleSetVersion, *, active: int | None = None) -> dict[str, Any]:
    data = {
        "scope": stored.scope,
        "version": stored.version,
        "label": stored.label,
        "created_at": stored.created_at,
        "actor": stored.actor,
        "rules": stored.rules.model_dump(mode="json", exclude_unset=True),
    }
    if active is not None:
        data["active"] = stored.version == active
    return data


def where(scope: str) -> str:
    """The rule set of a scope, in words."""
    return "the default rule set" if scope == DEFAULT_SCOPE else f"{scope}'s rule set"


def scope_of(vendor: str | None, vendors: Callable[[], list[str]]) -> str:
    """The default rule set (no vendor), or a known vendor's (``vendors`` are read only to check one)."""
    if vendor is None:
        return DEFAULT_SCOPE
    if vendor == DEFAULT_SCOPE or vendor not in vendors():
        raise OpsError(f"no vendor {vendor} (tf-retainer vendors list)")
    return vendor
