"""The local stack's retry poller runs as many batches at once as the stage's MaximumConcurrency lets
Lambda run, but always leaves one worker process for the API."""

from __future__ import annotations

import warnings

import pytest
from moto import mock_aws

from local.provision import provision
from local.stack import retry_concurrency


@pytest.fixture(scope="module")
def provisioned():
    with mock_aws(), warnings.catch_warnings(action="ignore"):
        yield provision(stage="dev")


@pytest.mark.parametrize(("workers", "batches"), [(1, 1), (2, 1), (4, 3), (6, 5), (16, 5)])
def test_retry_batches_at_once_follow_the_stage_and_spare_the_api(provisioned, workers, batches):
    # dev's RetryMaxConcurrency (StageConfig) is 5
    assert retry_concurrency(provisioned, workers) == batches
