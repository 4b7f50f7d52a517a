"""Five years of evidence per million leads: all in DynamoDB, or archived to S3 after N days.

    python bench/archive_cost.py [--after-days 90] [--grace-days 30] [--years 5] [--json]

Sizes per lead, measured by bench/write_split.py (the realistic lead kept at once in decide_first, its
items as written, local/capacity.py's item sizing, +100 bytes of DynamoDB overhead an item and an index
entry; re-measured for issue 22):
* the lead's state item 959 B with its index entries (gsi1, gsi3 and gsi4: keys only; a final lead is in no
  open index) 761 B: kept (the consumer index and the scorecards read it; it says where it was archived);
* each entry of its evidence chain 624 B on average (packed with dictionary 2; a first-attempt retain in
  decide_first has three: each call's request, the outcome); the chain's head (its last entry and the one
  the state reflects) is kept so later history can follow it, the rest expire early; ``--entries`` is the
  average chain length (default 3: every lead kept at once in decide_first);
* the certificate's claim 316 B: kept (it stops a certificate being retained twice);
* the archived record (state, history, exchanges and the chain's canonical text) about 7 KB of JSON,
  which repeats itself: ``--archived-bytes`` (default 2,000) after gzip.
Run cost: per lead the vendor-index Query, the archiver's mark read, read_lead and read_certificate
(one 4 KB consistent read unit each), the mark on the state (2 write units) and one write unit for each
entry whose TTL is shortened; ~20 ms of a 1 GB function. Objects: one per vendor and day;
``--leads-per-object`` (default 50) sets the PUTs and lifecycle transitions.
Prices: bench/prices.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PRICES = Path(__file__).with_name("prices.json")
GB = 1024**3
STATE_AND_INDEXES = 959 + 761
ENTRY = 624
CERTIFICATE = 316


def costs(args: argparse.Namespace, prices: dict) -> dict[str, float]:
    ddb, s3, lam = prices["dynamodb"], prices["s3"], prices["lambda"]
    months = args.years * 12
    per_gb_month = ddb["storage_gb_month"] + ddb["pitr_gb_month"]
    early = max(0.0, args.entries - 1) * ENTRY  # a final lead's head is one entry: the rest expire early
    whole = (STATE_AND_INDEXES + args.entries * ENTRY + CERTIFICATE) * args.leads / GB
    kept = (STATE_AND_INDEXES + min(args.entries, 1) * ENTRY + CERTIFICATE) * args.leads / GB
    in_table = (args.after_days + args.grace_days) / 30.4
    archived = args.archived_bytes * args.leads / GB
    objects = args.leads / args.leads_per_object
    standard = min(30, args.years * 365) / 30.4
    class_price = s3["glacier_ir_gb_month"] if args.storage_class == "GLACIER_IR" else s3["deep_archive_gb_month"]
    result = {
        "dynamodb_only": whole * per_gb_month * months,
        "archived_dynamodb_storage": (whole * in_table + kept * (months - in_table)) * per_gb_month,
        "archived_dynamodb_requests": args.leads
        / 1e6
        * (4 * ddb["read_request_unit_per_million"] + (2 + early / ENTRY) * ddb["write_request_unit_per_million"]),
        "archived_s3_storage": archived * (s3["standard_gb_month"] * standard + class_price * (months - standard)),
        "archived_s3_requests": objects
        / 1000
        * (s3["put_requests_per_1000"] + s3["transition_to_glacier_ir_per_1000"]),
        "archived_lambda": args.leads * (0.020 * 1.0 * lam["gb_second_x86_64"]),
    }
    result["archived_total"] = sum(v for k, v in result.items() if k.startswith("archived_"))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--years", type=float, default=5)
    parser.add_argument("--after-days", type=int, default=90)
    parser.add_argument("--grace-days", type=int, default=30)
    parser.add_argument("--archived-bytes", type=int, default=2000)
    parser.add_argument("--entries", type=float, default=3.0, help="average evidence chain length per lead")
    parser.add_argument("--leads-per-object", type=int, default=50)
    parser.add_argument("--storage-class", choices=["GLACIER_IR", "DEEP_ARCHIVE"], default="GLACIER_IR")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = costs(args, json.loads(PRICES.read_text()))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.leads:,} leads kept {args.years:g} years (us-east-1 list prices, bench/prices.json):")
    print(f"  all in DynamoDB (with PITR):               ${result['dynamodb_only']:8.2f}")
    print(f"  archived after {args.after_days} days (+{args.grace_days} grace):")
    for name in ("dynamodb_storage", "dynamodb_requests", "s3_storage", "s3_requests", "lambda"):
        print(f"    {name.replace('_', ' '):40} ${result['archived_' + name]:8.2f}")
    print(f"    total                                    ${result['archived_total']:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
