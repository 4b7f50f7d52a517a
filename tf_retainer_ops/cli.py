"""tf-retainer: the operator's command line (stdlib argparse + boto3).

    tf-retainer [--stack NAME | --local | --table T --queue-url Q --dlq-url D] [--json] COMMAND ...

    lead show LEAD_ID           state and history, oldest first
    lead exchanges LEAD_ID      raw TrustedForm exchanges (API key already redacted in the store)
    cert show CERT_ID           certificate claim and history
    evidence LEAD_ID [-o FILE]  one JSON evidence file for the lead (signed with the evidence KMS key),
                                from the table or, once archived, the S3 archive [--vendor V --received DAY]
    evidence find --phone P | --email E [--export DIR]
                                every lead of that consumer (any vendor); DIR: a bundle each + manifest
    evidence reindex [--vendor V]  put leads stored before the consumer index into it (once)
    evidence verify LEAD_ID     recompute a lead's stored evidence chain; names the first broken link
    verify FILE                 check an evidence file: its evidence chain, digest and signature (under
                                the deployment's evidence key, never the one the file names)
    vendors add|list|revoke     vendor API keys (a new key is printed once, never again)
    vendors show NAME           a vendor's keys, suspension (who, why) and key history
    vendors report [--since 30d] per-vendor scorecards (retained %, match failures, reuse, rules, ...)
    vendors suspend|resume NAME  refuse (403 vendor_suspended) or accept again a vendor's keys
    dlq redrive [--max N]       retry DLQ -> retry queue
    summary [--hours 24]        leads by status/reason, stuck leads, queue depths
    requeue LEAD_ID             put a stuck lead back on the retry queue
    rules show|set|test         the buyer's intake rule sets: versions, publish, backtest
    backfill FILE --vendor V    retain past leads from a CSV through the intake path (resumable)
    hold set|release|list       legal holds: a lead's, a consumer's or a vendor's evidence kept past retention
    revocations add|import FILE|list|show
                                consumers' revocations of consent: the gate closes at once, every lead gets it
    calling show|set|test       the law of the hour the gate applies: versions, the buyer's override, backtest

Each command module under commands/ lists its commands in a table (``COMMANDS``); build_parser makes the
parser from them. See docs/operations.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    TokenRetrievalError,
)
from tf_retainer.ports.leads import StoreUnavailable

from . import __version__
from .commands import COMMANDS
from .context import Command, Context
from .evidence import NotFound
from .service_output import quiet_service
from .target import STACK_ENV, OpsError

# AWS error codes that mean "wrong target or no access" rather than a bug: exit 2.
TARGET_ERRORS = {
    "ResourceNotFoundException": "not found",
    "AWS.SimpleQueueService.NonExistentQueue": "queue not found",
    "QueueDoesNotExist": "queue not found",
    "UnrecognizedClientException": "credentials not accepted",
    "InvalidClientTokenId": "credentials not accepted",
    "ExpiredToken": "credentials expired",
    "ExpiredTokenException": "credentials expired",
    "AccessDenied": "access denied",
    "AccessDeniedException": "access denied",
}


# --- argument parsing ----------------------------------------------------------------------------


def _target_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The same options on the main parser and on every command (so they may go before or after it)."""
    default: Any = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("target")
    group.add_argument("--stack", default=default, help=f"deployed CloudFormation stack (default ${STACK_ENV})")
    group.add_argument(
        "--local", action="store_true", default=False if top else argparse.SUPPRESS, help="the local stack (make run)"
    )
    group.add_argument("--table", default=default, help="DynamoDB table name (explicit target)")
    group.add_argument("--queue-url", default=default, help="retry queue URL")
    group.add_argument("--dlq-url", default=default, help="retry dead-letter queue URL")
    group.add_argument("--events-queue-url", default=default, help="outcome events queue URL (LeadEventsQueueUrl)")
    group.add_argument("--endpoint-url", default=default, help="AWS endpoint (e.g. a moto server)")
    group.add_argument("--region", default=default, help="AWS region")
    group.add_argument("--usage-plan-id", default=default, help="API Gateway usage plan for vendor keys")
    group.add_argument("--evidence-key-id", default=default, help="KMS HMAC key that signs evidence bundles")
    group.add_argument(
        "--anchor-key-id", default=default, help="KMS HMAC key the evidence anchors are MACed with (AnchorKeyId)"
    )
    group.add_argument("--callback-key-id", default=default, help="KMS key vendors' callback secrets are sealed with")
    group.add_argument(
        "--consumer-key-secret", default=default, help="secret of the consumer key (ConsumerKeySecretArn)"
    )
    group.add_argument("--archive-bucket", default=default, help="S3 bucket of the evidence archive")
    parser.add_argument(
        "--json", action="store_true", default=False if top else argparse.SUPPRESS, help="machine-readable output"
    )


def build_parser() -> argparse.ArgumentParser:
    """The parser, from the command table: a group's words lead to its commands; every command takes the
    target's options and runs its ``run`` (the parsed arguments' ``handler``)."""
    parser = argparse.ArgumentParser(
        prog="tf-retainer",
        description="Operate tf-retainer: leads, evidence, vendor keys, the retry queues, rules, backfills.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _target_options(parser, top=True)
    # Where each group's commands go: its words -> its subparsers.
    under: dict[tuple[str, ...], argparse._SubParsersAction[argparse.ArgumentParser]] = {
        (): parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    }
    for entry in COMMANDS:
        *path, name = entry.words
        subcommands = under[tuple(path)]
        if isinstance(entry, Command):
            command = subcommands.add_parser(name, help=entry.help, description=entry.help)
            _target_options(command, top=False)
            command.set_defaults(handler=entry.run)
            if entry.arguments:
                entry.arguments(command)
        else:
            group = subcommands.add_parser(name, help=entry.help)
            under[entry.words] = group.add_subparsers(dest=f"{name}_command", required=True)
    return parser


# --- entry point ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0)
    ctx = Context(args, out, err)
    try:
        with quiet_service(err):  # stdout is the command's: the service's own lines go to stderr
            return args.handler(ctx)
    except OpsError as exc:
        return _fail(err, str(exc), exc.code)
    except NotFound as exc:
        return _fail(err, str(exc), 1)
    except (NoCredentialsError, PartialCredentialsError, TokenRetrievalError) as exc:
        return _fail(err, f"no usable AWS credentials ({exc}): set AWS_PROFILE or run aws sso login", 2)
    except NoRegionError:
        return _fail(err, "no AWS region: pass --region or set AWS_REGION", 2)
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        return _fail(err, f"cannot reach AWS: {exc}", 2)
    except StoreUnavailable as exc:  # the store's own words for the two above, a read timeout, throttling
        if isinstance(exc.__cause__, EndpointConnectionError | ConnectTimeoutError):
            return _fail(err, f"cannot reach AWS: {exc.__cause__}", 2)
        return _fail(err, f"the table did not answer in time ({exc}): try again", 1)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", "")
        if code in TARGET_ERRORS:
            return _fail(err, f"{TARGET_ERRORS[code]}: {message or code} ({exc.operation_name})", 2)
        return _fail(err, f"AWS error {code} in {exc.operation_name}: {message}", 1)
    except KeyboardInterrupt:
        return _fail(err, "interrupted", 130)
    except BrokenPipeError:  # the reader left (`| head`): nothing more to say, and no traceback
        _silence(out)
        return 141  # 128 + SIGPIPE, as a shell tool ends


def _silence(out: TextIO) -> None:
    """Whatever is still buffered for a closed pipe goes nowhere (the interpreter's final flush would raise)."""
    try:
        fileno = out.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's buffer)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)


def _fail(err: TextIO, message: str, code: int) -> int:
    print(f"tf-retainer: {message}", file=err)
    return code


if __name__ == "__main__":
    sys.exit(main())
