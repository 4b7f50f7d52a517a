"""Settings from the environment: defaults, parsing, and where the TrustedForm API key may be sent."""

import pytest
from pydantic import ValidationError
from tf_retainer.runtime.settings import Settings

REQUIRED = {"TABLE_NAME": "leads", "RETRY_QUEUE_URL": "https://sqs.example/queue", "TRUSTEDFORM_SECRET_ID": "tf-key"}


def from_env(**env: str) -> Settings:
    return Settings.from_environ({**REQUIRED, **env})


def test_defaults_when_only_the_required_names_are_set():
    settings = from_env()
    assert settings.table_name == "leads"
    assert settings.retry_queue_url == "https://sqs.example/queue"
    assert settings.trustedform_secret_id == "tf-key"
    assert settings.trustedform_base_url == "https://cert.trustedform.com"
    assert settings.masked_certificate_policy == "accept"
    assert settings.certificate_reuse_policy == "reject"
    assert settings.lead_match_policy == "reject"
    assert settings.insights_properties == ("is_masked",)
    assert settings.sync_timeout_seconds == 8.0
    assert settings.retry_max_attempts == 12
    assert settings.max_body_bytes == 65536


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_required_names_must_be_set(missing):
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ValidationError, match=missing.lower()):
        Settings.from_environ(env)


def test_unrelated_and_lowercase_names_are_ignored():
    settings = from_env(PATH="/usr/bin", sync_timeout_seconds="1", AWS_REGION="us-east-1")
    assert settings.sync_timeout_seconds == 8.0


def test_values_are_parsed_from_strings():
    settings = from_env(
        SYNC_TIMEOUT_SECONDS="2.5",
        RETRY_MAX_ATTEMPTS="3",
        CERTIFICATE_REUSE_POLICY="share",
        MASKED_CERTIFICATE_POLICY="refuse",
        DEADLINE_SAFETY_MINUTES="0",
    )
    assert settings.sync_timeout_seconds == 2.5
    assert settings.retry_max_attempts == 3
    assert settings.certificate_reuse_policy == "share"
    assert settings.masked_certificate_policy == "refuse"
    assert settings.deadline_safety_minutes == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("is_masked,created_at", ("is_masked", "created_at")),
        (" is_masked , created_at ,", ("is_masked", "created_at")),
        ("", ()),
        ("is_masked", ("is_masked",)),
    ],
)
def test_insights_is_a_comma_separated_list(raw, expected):
    assert from_env(INSIGHTS_PROPERTIES=raw).insights_properties == expected


@pytest.mark.parametrize(
    "name",
    [
        "SYNC_TIMEOUT_SECONDS",
        "CONNECT_TIMEOUT_SECONDS",
        "RETRY_TIMEOUT_SECONDS",
        "RETRY_BASE_SECONDS",
        "RETRY_CAP_SECONDS",
        "ACCOUNT_ERROR_DELAY_SECONDS",
        "RETAIN_WINDOW_HOURS",
    ],
)
@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_durations_must_be_positive_numbers(name, value):
    with pytest.raises(ValidationError, match=name.lower()):
        from_env(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CERTIFICATE_REUSE_POLICY", "allow"),
        ("MASKED_CERTIFICATE_POLICY", "ignore"),
        ("LEAD_MATCH_POLICY", "maybe"),
        ("RETRY_MAX_ATTEMPTS", "0"),
        ("RETRY_MAX_ATTEMPTS", "101"),
        ("MAX_BODY_BYTES", "1023"),
        ("DEADLINE_SAFETY_MINUTES", "-5"),
        ("TABLE_NAME", "ab"),
        ("AUTO_SUSPEND_BELOW_RETAINED_PERCENT", "101"),
        ("AUTO_SUSPEND_ABOVE_MATCH_FAILURE_PERCENT", "-1"),
        ("AUTO_SUSPEND_MIN_LEADS", "0"),
        ("AUTO_SUSPEND_WINDOW_DAYS", "0"),
    ],
)
def test_out_of_range_values_are_refused(name, value):
    with pytest.raises(ValidationError):
        from_env(**{name: value})


def test_automatic_suspension_is_off_unless_a_threshold_is_set():
    assert not from_env().auto_suspend_enabled
    assert not from_env(AUTO_SUSPEND_MIN_LEADS="10", AUTO_SUSPEND_WINDOW_DAYS="1").auto_suspend_enabled
    on = from_env(AUTO_SUSPEND_BELOW_RETAINED_PERCENT="40")
    assert on.auto_suspend_enabled and (on.auto_suspend_min_leads, on.auto_suspend_window_days) == (50, 7.0)
    assert from_env(AUTO_SUSPEND_ABOVE_MATCH_FAILURE_PERCENT="25").auto_suspend_enabled


def test_settings_cannot_be_changed_once_read():
    settings = from_env()
    with pytest.raises(ValidationError):
        settings.sync_timeout_seconds = 1.0


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://cert.trustedform.com", "https://cert.trustedform.com"),
        ("https://cert.trustedform.com/", "https://cert.trustedform.com"),
        ("https://cert.trustedform.com:443", "https://cert.trustedform.com"),
        ("https://CERT.TRUSTEDFORM.COM", "https://cert.trustedform.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.2:9000/tf", "http://127.0.0.2:9000/tf"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://host.docker.internal:3001", "http://host.docker.internal:3001"),
    ],
)
def test_api_url_may_be_trustedform_or_a_loopback_simulator(url, base):
    assert from_env(TRUSTEDFORM_API_URL=url).trustedform_base_url == base


@pytest.mark.parametrize(
    "url",
    [
        "http://cert.trustedform.com",  # the key in clear
        "http://cert.trustedform.com:443",  # in clear, whatever the port
        "https://cert.trustedform.com:8443",
        "https://cert.trustedform.com.evil.example",
        "https://evil.example",
        "https://trustedform.com",
        "https://ping.trustedform.com",
        "http://10.0.0.1:8080",
        "http://192.168.1.10",
        "ftp://cert.trustedform.com",
        "not a url",
    ],
)
def test_api_url_anywhere_else_is_refused(url):
    with pytest.raises(ValidationError, match="trustedform_api_url"):
        from_env(TRUSTEDFORM_API_URL=url)


@pytest.mark.parametrize(
    "url", ["http://127.evil.example:8080", "https://127.0.0.1.attacker.example", "http://[::2]:80", "http://10.0.0.1"]
)
def test_api_url_naming_a_dns_host_that_merely_starts_with_127_is_refused(url):
    with pytest.raises(ValidationError, match="trustedform_api_url"):
        from_env(TRUSTEDFORM_API_URL=url)
