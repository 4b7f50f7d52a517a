"""The fault soak's own settings must not make dead letters the service would not: its retry queue's visibility
timeout, shortened from the template's 360 s, outlasts the attempt lease the stack's functions hold (a delivery
the lease turned away comes back only once the lease has ended, so a killed attempt does not spend a message's
receives while its lease still holds)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from bench import soak


@pytest.mark.parametrize("retry_timeout", [1.0, 3.0, 7.5, 20.0, 40.0])
def test_the_soak_s_visibility_outlasts_the_lease_its_stack_holds(retry_timeout, settings):
    # the lease the retry worker takes, as the stack's settings make it from the soak's RETRY_TIMEOUT_SECONDS,
    # in an invocation with all of the RetryFunction's Timeout left
    from tf_retainer.leads.retry import attempt_lease

    from local.provision import function_settings

    stack_settings = settings.model_copy(update={"retry_timeout_seconds": retry_timeout})
    invocation_ends = time.monotonic() + function_settings("RetryFunction").timeout
    lease = attempt_lease(SimpleNamespace(settings=stack_settings), invocation_ends)
    assert soak.retry_visibility(retry_timeout) > lease


def test_a_visibility_under_the_lease_is_refused_before_anything_starts(capsys):
    with pytest.raises(SystemExit) as stopped:
        soak.main(["--leads", "10", "--retry-timeout", "3", "--visibility", "60"])
    assert stopped.value.code == 2
    assert "must outlast the attempt lease: 65 s" in capsys.readouterr().err
