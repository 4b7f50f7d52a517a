"""`tf-retainer backfill`: past leads from a CSV through the intake path, against the `stack` fixture
(moto + the simulator), with an explicit target whose settings come from the environment."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from local.simulator import make_mobile_cert_id, make_web_cert_id
from tests.support.cli import run
from tests.support.stack import VENDOR
from tf_retainer_ops import backfill, backfill_plan

NOW = datetime.now(UTC)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat().replace("+00:00", "Z")


def cert_url(cert_id: str) -> str:
    return f"https://cert.trustedform.com/{cert_id}"


def run_backfill(stack, path: Path, *extra: str) -> tuple[int, dict, str]:
    code, out, err = run(stack, "--json", "backfill", str(path), "--vendor", VENDOR, "--rate", "1000", *extra)
    return code, json.loads(out) if out else {}, err


def retains(stack, cert_ids) -> dict[str, int]:
    return {cert_id: stack.sim.retains(cert_id) for cert_id in cert_ids}


def posts_to(stack, cert_id: str) -> int:
    return sum(1 for request in stack.sim.requests if request["cert_id"] == cert_id)


def test_rows_are_sorted_by_what_is_still_possible(stack, tmp_path):
    urgent_old, urgent_new = make_web_cert_id(), make_web_cert_id()
    web_extended, mobile = make_web_cert_id(), make_mobile_cert_id()
    closed_web, closed_mobile, not_extended = make_web_cert_id(), make_mobile_cert_id(), make_web_cert_id()
    stack.sim.script(not_extended, ["not_found"])  # a web certificate no form submit extended: 404 after 72 h
    # Columns in an unusual order, named as a spreadsheet would; an extra column goes in as an extra field.
    header = ["Lead Date", "utm_source", "Phone", "Lead ID", "xxTrustedFormCertUrl", "Email"]
    rows = [
        [ago(days=20), "", "", "L-2", cert_url(web_extended), "b@example.com"],  # line 2
        [ago(hours=2), "search", "512-555-0101", "L-3", cert_url(urgent_new), ""],  # line 3
        [ago(days=120), "", "", "L-4", cert_url(closed_web), "c@example.com"],  # line 4
        [ago(days=10), "", "", "L-5", cert_url(mobile), "d@example.com"],  # line 5
        [ago(hours=70), "", "", "L-6", cert_url(urgent_old), "e@example.com"],  # line 6
        [ago(hours=1), "", "", "L-7", "https://cert.trustedform.com.evil.example/" + "a" * 40, "f@example.com"],
        [ago(hours=1), "", "", "L-8", cert_url(make_web_cert_id()), ""],  # line 8: no contact
        [ago(hours=1), "", "", "", cert_url(make_web_cert_id()), "g@example.com"],  # line 9: no lead id
        [(NOW - timedelta(days=95)).date().isoformat(), "", "", "L-10", cert_url(closed_mobile), "h@example.com"],
        ["yesterday", "", "", "L-11", cert_url(make_web_cert_id()), "i@example.com"],  # line 11
        [ago(hours=3), "", "", "L-3", cert_url(make_web_cert_id()), "j@example.com"],  # line 12: repeated id
        [ago(days=4), "", "", "L-13", cert_url(not_extended), "k@example.com"],  # line 13
    ]
    path = write_csv(tmp_path / "leads.csv", header, rows)

    code, summary, err = run_backfill(stack, path)

    assert code == 0, err
    sent = [urgent_old, urgent_new, mobile, web_extended]
    assert retains(stack, sent) == dict.fromkeys(sent, 1)
    assert posts_to(stack, closed_web) == posts_to(stack, closed_mobile) == 0 and posts_to(stack, not_extended) == 1
    # Most urgent first: web certificates inside 72 h, then the rest inside 90 days, oldest first in each.
    order = list(dict.fromkeys(r["cert_id"] for r in stack.sim.requests))
    assert order == [urgent_old, urgent_new, web_extended, mobile, not_extended]
    assert summary["rows"] == 12 and summary["inside_72h"] == 2 and summary["inside_90_days"] == 3
    assert (summary["retained"], summary["pending"], summary["already_done"]) == (4, 0, {})
    assert summary["rejected"] == {"certificate_not_found": 1}
    assert [(c["line"], c["lead_id"]) for c in summary["skipped_window_closed"]] == [(4, "L-4"), (10, "L-10")]
    assert all(c["reason"].startswith("retain_window_closed") for c in summary["skipped_window_closed"])
    invalid = {item["line"]: item["reason"] for item in summary["invalid"]}
    assert sorted(invalid) == [7, 8, 9, 11, 12]
    assert invalid[7].startswith("invalid_certificate_url") and invalid[8].startswith("missing_contact")
    assert "lead id" in invalid[9] and "ISO 8601" in invalid[11] and "line 3" in invalid[12]
    assert "backfill [####################] 5/5" in err

    lead_id = stack.reader.find_vendor_lead(VENDOR, "L-3")
    record = stack.reader.read_lead(lead_id)
    assert record.lead.status.value == "retained" and record.lead.lead == {"utm_source": "search"}
    [origin] = [event for event in record.history if event.type == "backfilled"]
    assert origin.detail["line"] == 3 and origin.detail["file"] == "leads.csv"
    assert stack.reader.find_vendor_lead(VENDOR, "L-4") is None and stack.reader.find_vendor_lead(VENDOR, "L-7") is None

    # The same file again: everything is already done, TrustedForm is not called again.
    before = len(stack.sim.requests)
    code, again, err = run_backfill(stack, path)
    assert code == 0, err
    assert len(stack.sim.requests) == before
    assert again["already_done"] == {"retained": 4, "rejected": 1} and again["retained"] == 0
    assert len(again["skipped_window_closed"]) == 2 and len(again["invalid"]) == 5


def test_an_interrupted_backfill_resumed_retains_every_lead_once(stack, tmp_path, monkeypatch):
    open_certs = [make_web_cert_id() for _ in range(6)]
    closed = make_web_cert_id()
    stack.sim.script(open_certs[4], ["unavailable"])  # pending: the retry worker's, not retried here
    rows = [[cert_url(c), f"lead{n}@example.com", f"R-{n}", ago(hours=n + 1)] for n, c in enumerate(open_certs)]
    rows.insert(3, [cert_url(closed), "old@example.com", "R-old", ago(days=91)])
    path = write_csv(tmp_path / "leads.csv", ["certificate_url", "email", "lead_id", "lead_date"], rows)

    real_submit, calls = backfill.submit_lead, []

    def dies_after_the_third(*args, **kwargs):
        answer = real_submit(*args, **kwargs)
        calls.append(answer.lead_id)
        if len(calls) == 3:  # the lead is in the store and retained, the run never learns it
            raise KeyboardInterrupt
        return answer

    monkeypatch.setattr(backfill, "submit_lead", dies_after_the_third)
    code, partial, err = run_backfill(stack, path)
    assert code == 130 and "interrupted" in err
    # Oldest first: R-5 retained, R-4 pending, R-3 retained but the run died before counting it.
    assert (partial["retained"], partial["pending"], partial["not_sent"]) == (1, 1, 4)
    assert "rerun" in partial["stopped"]

    monkeypatch.setattr(backfill, "submit_lead", real_submit)
    code, resumed, err = run_backfill(stack, path)
    assert code == 0, err
    assert retains(stack, open_certs) == {c: (0 if c == open_certs[4] else 1) for c in open_certs}
    assert Counter(r["cert_id"] for r in stack.sim.requests if r["cert_id"] in open_certs) == dict.fromkeys(
        open_certs, 1
    )
    assert posts_to(stack, closed) == 0
    assert resumed["already_done"] == {"retained": 2, "pending": 1}
    assert (resumed["retained"], resumed["pending"], resumed["not_sent"]) == (3, 0, 0)
    assert [c["lead_id"] for c in resumed["skipped_window_closed"]] == ["R-old"]
    stored = {f"R-{n}": stack.reader.find_vendor_lead(VENDOR, f"R-{n}") for n in range(6)}
    assert all(stored.values()) and len(set(stored.values())) == 6


def test_human_summary_and_a_file_without_the_needed_columns(stack, tmp_path):
    path = write_csv(tmp_path / "leads.csv", ["url", "email", "lead_id", "lead_date"], [["x", "a@b.co", "1", "2"]])
    code, out, err = run(stack, "backfill", str(path), "--vendor", VENDOR)
    assert (code, out) == (2, "")
    assert "no certificate_url column" in err and "trustedform_cert_url" in err and stack.sim.requests == []

    good = write_csv(
        tmp_path / "good.csv",
        ["trustedform_cert_url", "phone", "lead_id", "lead_date"],
        [[cert_url(make_web_cert_id()), "512-555-0199", "H-1", ago(minutes=5)], ["nope", "512-555-0199", "H-2", ago()]],
    )
    code, out, err = run(stack, "backfill", str(good), "--vendor", VENDOR)
    assert code == 0, err
    assert "retained:               1" in out and "line 3: invalid_certificate_url" in out
    assert "5125550199" not in out + err and "512-555-0199" not in out + err

    code, _, err = run(stack, "backfill", str(good), "--vendor", "no-such-vendor")
    assert code == 2 and "no vendor no-such-vendor" in err


def test_an_account_error_stops_the_backfill_and_stdout_stays_json(stack, tmp_path):
    stack.sim.api_keys = ("a-key-we-do-not-have",)  # TrustedForm answers 401 to ours
    certs = [make_web_cert_id() for _ in range(3)]
    rows = [[cert_url(c), f"{n}@example.com", f"K-{n}", ago(hours=n + 1)] for n, c in enumerate(certs)]
    path = write_csv(tmp_path / "k.csv", ["certificate_url", "email", "lead_id", "lead_date"], rows)
    code, summary, err = run_backfill(stack, path)
    assert code == 1
    assert (summary["pending"], summary["not_sent"]) == (1, 2) and "account_error" in summary["stopped"]
    assert '"lead outcome"' in err and "account_error" in err  # the service's warning, on stderr
    # The oldest first; the key re-read once after the 401, as live intake does.
    assert [posts_to(stack, c) for c in certs] == [0, 0, 2]


@pytest.mark.parametrize("retry_after", [7])
def test_throttled_answers_pause_the_backfill_as_the_service_plans(stack, tmp_path, retry_after):
    throttled, after = make_web_cert_id(), make_web_cert_id()
    stack.sim.script(throttled, [f"throttled:{retry_after}"])
    rows = [
        [cert_url(throttled), "a@example.com", "T-1", ago(hours=2)],
        [cert_url(after), "b@example.com", "T-2", ago()],
    ]
    plan = backfill_plan.read_plan(
        write_csv(tmp_path / "t.csv", ["certificate_url", "email", "lead_id", "lead_date"], rows),
        now=datetime.now(UTC),
        settings=backfill.service_settings(_explicit_target(stack)),
    )
    target = _explicit_target(stack)
    deps = backfill.service_deps(target, backfill.service_settings(target))
    pauses: list[float] = []
    pace = backfill.Pace(1000, sleep=pauses.append)
    summary = backfill.Summary.of(plan, VENDOR)
    backfill.run_backfill(deps, plan, summary, source="t.csv", err=io.StringIO(), pace=pace)
    assert (summary.pending, summary.retained) == (1, 1)
    [pause] = [seconds for seconds in pauses if seconds >= 1]
    assert retry_after - 2 < pause <= retry_after


def _explicit_target(stack):
    from tf_retainer_ops.target import Target

    return Target(
        table_name=stack.provisioned.table_name, retry_queue_url=stack.provisioned.retry_queue_url, region="us-east-1"
    )


class _Stub:
    def __init__(self, **answers):
        self.answers, self.calls = answers, []

    def __getattr__(self, name):
        def call(**kwargs):
            self.calls.append((name, kwargs))
            return self.answers[name]

        return call


def test_a_deployed_stack_runs_with_its_intake_functions_settings():
    from tf_retainer_ops.target import OpsError, Target

    deployed = Target(table_name="t-leads", retry_queue_url="https://sqs/q", stack_name="tf-prod", source="stack")
    cloudformation = _Stub(describe_stack_resource={"StackResourceDetail": {"PhysicalResourceId": "tf-prod-Intake"}})
    environment = {"TRUSTEDFORM_SECRET_ID": "arn:secret", "RETAIN_MODE": "combined", "LEAD_MATCH_POLICY": "accept"}
    function = _Stub(get_function_configuration={"Environment": {"Variables": environment}})
    deployed._clients.update({"cloudformation": cloudformation, "lambda": function})
    settings = backfill.service_settings(deployed)
    assert (settings.table_name, settings.retry_queue_url, settings.trustedform_secret_id) == (
        "t-leads",
        "https://sqs/q",
        "arn:secret",
    )
    assert (settings.retain_mode, settings.lead_match_policy) == ("combined", "accept")
    assert function.calls == [("get_function_configuration", {"FunctionName": "tf-prod-Intake"})]

    explicit = Target(table_name="t-leads", retry_queue_url="https://sqs/q")
    with pytest.raises(OpsError, match="TRUSTEDFORM_SECRET_ID"):
        backfill.service_settings(explicit, environ={})


def test_a_field_over_the_csv_modules_limit_is_one_line_naming_where(stack, tmp_path):
    """A field over the csv module's limit (128 KiB): one line on stderr naming the file's line and the
    limit, exit 2, nothing sent (issue 26: it was a traceback)."""
    path = tmp_path / "broken.csv"
    good = f"{cert_url(make_web_cert_id())},a@example.com,L-1,{ago(hours=1)}\n"
    bad = f"{cert_url(make_web_cert_id())},{'x' * 200_000}@example.com,L-2,{ago(hours=1)}\n"
    path.write_text("certificate_url,email,lead_id,lead_date\n" + good + bad, encoding="utf-8")
    code, out, err = run(stack, "backfill", str(path), "--vendor", VENDOR)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{path}, line 3: a field is longer than 131072 characters" in err, err
    assert stack.sim.requests == []
