"""The local stack's SQS pollers (the retry worker's, the callbacks') run as many batches at once as the stage's
MaximumConcurrency and the function's reserved concurrency let Lambda run, but always leave one worker
process for the API."""

from __future__ import annotations

import warnings

import pytest
from moto import mock_aws

from local.provision import provision
from local.stack import sqs_concurrency


@pytest.fixture(scope="module")
def provisioned():
    with mock_aws(), warnings.catch_warnings(action="ignore"):
        yield provision(stage="dev")


@pytest.mark.parametrize(("workers", "batches"), [(1, 1), (2, 1), (4, 3), (6, 5), (16, 5)])
def test_retry_batches_at_once_follow_the_stage_and_spare_the_api(provisioned, workers, batches):
    # dev's RetryMaxConcurrency (StageConfig) is 5
    assert sqs_concurrency(provisioned, "RetryFunction", workers) == batches


@pytest.mark.parametrize(("workers", "batches"), [(1, 1), (2, 1), (4, 2), (16, 2)])
def test_callback_batches_at_once_follow_the_stage_s_callback_concurrency(provisioned, workers, batches):
    # dev's CallbackConcurrency (StageConfig) is 2: the callback function's reserved concurrency and its
    # event source's MaximumConcurrency
    assert sqs_concurrency(provisioned, "CallbackFunction", workers) == batches
