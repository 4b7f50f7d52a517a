"""What every command is made of and runs with: its entry in the command table (Command, Group), its Context
(the parsed arguments, the target and the service's adapters on it, built by tf_retainer.wiring), who is
acting, and the output and argument helpers. Command modules import this; it imports none of them."""

from __future__ import annotations

import argparse
import getpass
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO

from tf_retainer import wiring

from .evidence import Archive
from .target import OpsError, Target, resolve

if TYPE_CHECKING:
    from tf_retainer.leads.deps import Deps
    from tf_retainer.ports.anchors import AnchorStore, Mac
    from tf_retainer.runtime.settings import Settings
    from tf_retainer.store.calling_rules import CallingRuleStore
    from tf_retainer.store.lead_table import LeadTable
    from tf_retainer.store.legal_holds import HoldStore
    from tf_retainer.store.revocations import DynamoRevocations
    from tf_retainer.store.rule_sets import RuleStore
    from tf_retainer.store.vendor_callbacks import VendorCallbackStore
    from tf_retainer.store.vendor_keys import VendorKeyStore

Arguments = Callable[[argparse.ArgumentParser], None]
SINCE = re.compile(r"^(\d+(?:\.\d+)?)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Context:
    """One command's run: its arguments, its output, and the target's adapters (built on first use)."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err

    @cached_property
    def target(self) -> Target:
        return resolve(self.args)

    @cached_property
    def settings(self) -> Settings:
        return self.target.settings()

    @property
    def _dynamodb(self) -> Any:
        return self.target.client("dynamodb")

    @cached_property
    def store(self) -> LeadTable:
        keyring = wiring.build_keyring(self.settings, self.target.client("secretsmanager"))
        return wiring.build_lead_table(self.settings, self._dynamodb, keyring)

    @cached_property
    def archive(self) -> Archive:
        """Where an archived lead's evidence is read back from (its state names the object)."""
        marks = wiring.build_archive_marks(self.settings, self._dynamodb)
        bucket = wiring.build_archive_bucket(self.settings, self.target.client("s3"))
        return Archive(marks=marks, bucket=bucket, searchable=bool(self.target.archive_bucket))

    @cached_property
    def anchors(self) -> tuple[AnchorStore, Mac] | str:
        """The evidence anchors (the archive bucket's anchors/) and their MAC under the deployment's anchor
        key; or why there are none to check against."""
        if not self.target.archive_bucket:
            return "the target names no archive bucket (use --stack / --local, or give --archive-bucket)"
        if not self.target.anchor_key_id:
            return "the target names no anchor key (use --stack / --local, or give --anchor-key-id)"
        store = wiring.build_anchor_store(self.settings, self.target.client("s3"))
        return store, wiring.build_anchor_mac(self.target.client("kms"), self.target.anchor_key_id)

    @cached_property
    def vendor_keys(self) -> VendorKeyStore:
        return wiring.build_vendor_keys(self.settings, self._dynamodb)

    @cached_property
    def holds(self) -> HoldStore:
        return wiring.build_hold_store(self.settings, self._dynamodb)

    @cached_property
    def callbacks(self) -> VendorCallbackStore:
        """Vendors' callbacks; their secrets sealed (encrypted) with the target's callback key."""
        key_id = self.target.callback_key_id or ""
        kms = self.target.client("kms") if key_id else None
        return wiring.build_vendor_callbacks(self.settings, self._dynamodb, kms=kms, key_id=key_id)

    @cached_property
    def rule_store(self) -> RuleStore:
        return wiring.build_rule_store(self.settings, self._dynamodb)

    @cached_property
    def ledger(self) -> DynamoRevocations:
        return wiring.build_revocations(self.settings, self.store.table)

    @cached_property
    def calling_rules(self) -> CallingRuleStore:
        return wiring.build_calling_rules(self.store.table)

    @cached_property
    def lead_deps(self) -> Deps:
        """The lead use cases' dependencies on the target (revocations recorded as the API does)."""
        return wiring.build_deps(self.settings, table=self.store, sqs=self.target.client("sqs"))

    @property
    def actor(self) -> str:
        """Who acts: --actor, else the operator's user name."""
        return str(getattr(self.args, "actor", None) or user_name())

    def vendors(self) -> list[str]:
        """Every vendor that has a key (revoked or suspended ones too)."""
        return sorted({key.vendor for key in self.vendor_keys.list()})

    def print(self, text: str = "") -> None:
        print(text, file=self.out)

    def note(self, text: str) -> None:
        print(text, file=self.err)

    def emit(self, data: Any, human: Callable[[Any], None]) -> None:
        if self.args.json:
            print(json.dumps(data, indent=2, sort_keys=False, default=str), file=self.out)
        else:
            human(data)


@dataclass(frozen=True)
class Group:
    """Words that lead to commands, e.g. ``("vendors", "callback")``."""

    words: tuple[str, ...]
    help: str


@dataclass(frozen=True)
class Command:
    """One command: its words (``("vendors", "report")``), what runs it (its exit status), its help and
    its own arguments (the target's options are every command's)."""

    words: tuple[str, ...]
    run: Callable[[Context], int]
    help: str
    arguments: Arguments | None = None


def argument(*names: str, **options: Any) -> Arguments:
    """A command's one argument, e.g. ``argument("lead_id")``."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(*names, **options)

    return add


def user_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "operator"


def now() -> datetime:
    return datetime.now(UTC)


# --- output ----------------------------------------------------------------------------------------


def fmt(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, dict):
        return " ".join(f"{k}={fmt(v)}" for k, v in value.items() if v is not None)
    return str(value)


def counts_text(counts: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in counts.items()) or "-"


def history_lines(ctx: Context, history: list[dict[str, Any]]) -> None:
    for event in history:
        detail = {k: v for k, v in (event.get("detail") or {}).items() if v is not None}
        ctx.print(f"  {event['at']}  {event['type']:<26} {event.get('actor') or '-':<8} {fmt(detail)}")


# --- arguments -------------------------------------------------------------------------------------


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``/``--until``: 30m, 24h, 7d, 2w before ``now``, or an ISO date/time (UTC unless it says)."""
    match = SINCE.match(text.strip())
    if match:
        return now - timedelta(**{UNITS[match.group(2)]: float(match.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise OpsError(f"--since {text!r}: expected 30m, 24h, 7d, 2w or an ISO date/time") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)
