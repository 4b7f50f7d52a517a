"""The CLI's commands, a table per module (``COMMANDS``: Group and Command entries, tf_retainer_ops.context),
in the order `tf-retainer --help` lists them, each group before the commands under it. Every command module
imports tf_retainer_ops.context and the operations it runs, never another command module."""

from __future__ import annotations

from ..context import Command, Group
from . import backfill, callbacks, calling, evidence, holds, leads, queues, revocations, rules, vendor_report, vendors

COMMANDS: tuple[Group | Command, ...] = (
    *leads.COMMANDS,
    *evidence.COMMANDS,
    *vendors.COMMANDS,
    *vendor_report.COMMANDS,
    *callbacks.COMMANDS,
    *queues.COMMANDS,
    *rules.COMMANDS,
    *backfill.COMMANDS,
    *holds.COMMANDS,
    *revocations.COMMANDS,
    *calling.COMMANDS,
)
