"""bench/soak.py at a small N: 40 leads through the local stack (a subprocess, as ``make soak`` runs it)
while TrustedForm answers 5xx, hangs, throttles and 404s; nothing accepted is lost, no certificate is
retained twice, every TrustedForm call has its raw exchange stored for its lead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LEADS = 40

# Real retry delays and TrustedForm timeouts: 30-60 s. Its limits are about ten times that: the soak's
# --minutes (it ends as soon as every lead is final), then the process's and pytest's.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_a_small_fault_soak_loses_nothing(tmp_path: Path):
    figures_path = tmp_path / "figures.json"
    run = subprocess.run(  # noqa: S603 - this interpreter running the repository's own script
        [
            sys.executable,
            str(REPO_ROOT / "bench" / "soak.py"),
            "--leads",
            str(LEADS),
            "--minutes",
            "6",
            "--log-dir",
            str(tmp_path / "logs"),
            "--json",
            str(figures_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert figures_path.exists(), f"exit {run.returncode}\n{run.stdout}\n{run.stderr[-3000:]}"
    figures = json.loads(figures_path.read_text())
    print(run.stdout)
    assert figures["accepted"] == LEADS, run.stdout
    assert figures["lost"] == 0, figures["lost_leads"]
    assert figures["double_retains"] == 0, figures["double_retain_certs"]
    assert figures["evidence_gaps"] == 0, figures["evidence_gap_leads"]
    assert sum(figures["final_by_status"].values()) == LEADS
    assert not figures["timed_out"]
    # The faults really happened: TrustedForm failed some calls in each way the soak scripts.
    kinds = figures["calls_by_kind"]
    assert kinds.get("5xx", 0) > 0 and kinds.get("hang", 0) > 0, kinds
    assert run.returncode == 0, run.stdout
