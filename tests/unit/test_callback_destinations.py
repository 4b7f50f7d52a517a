"""Where a callback may go (tf_retainer.events.callbacks): https, public addresses only, checked when sent."""

from __future__ import annotations

import pytest
from tf_retainer.events.callbacks import CallbackRefused, check_url, public_address, signature, verify

PRIVATE_OR_SPECIAL = [
    "10.0.0.7",
    "172.16.5.4",
    "192.168.1.1",
    "127.0.0.1",
    "169.254.169.254",  # the instance metadata service
    "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
    "100.64.0.1",  # carrier-grade NAT
    "::1",
    "fd00::1",
    "fe80::1%eth0",
    "224.0.0.1",
]


@pytest.mark.parametrize("address", PRIVATE_OR_SPECIAL)
def test_a_host_resolving_to_a_non_public_address_is_refused(address):
    with pytest.raises(CallbackRefused) as refused:
        public_address("callbacks.vendor.example", 443, allow_private=False, resolver=lambda h, p: [address])
    assert refused.value.reason == "callback_address_not_public"


def test_one_private_address_among_public_ones_is_enough_to_refuse():
    answers = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(CallbackRefused):
        public_address("callbacks.vendor.example", 443, allow_private=False, resolver=lambda h, p: answers)


def test_a_public_host_gives_the_address_to_connect_to():
    resolver = lambda h, p: ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]  # noqa: E731
    assert public_address("callbacks.vendor.example", 443, allow_private=False, resolver=resolver) == "93.184.216.34"


def test_an_unresolvable_host_is_refused():
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(CallbackRefused) as refused:
        public_address("nowhere.invalid", 443, allow_private=False, resolver=resolver)
    assert refused.value.reason == "callback_host_unresolvable"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://callbacks.vendor.example/tf", "callback_not_https"),
        ("ftp://callbacks.vendor.example/tf", "invalid_callback_url"),
        ("https://user:pw@callbacks.vendor.example/tf", "invalid_callback_url"),
        ("https://10.1.2.3/tf", "callback_address_not_public"),
        ("https://[::1]/tf", "callback_address_not_public"),
        ("/relative", "invalid_callback_url"),
    ],
)
def test_registration_refuses_what_can_never_be_sent_to(url, reason):
    with pytest.raises(CallbackRefused) as refused:
        check_url(url, allow_private=False)
    assert refused.value.reason == reason


def test_the_local_stack_may_call_back_over_http_on_loopback():
    assert check_url("http://127.0.0.1:8901/callbacks", allow_private=True) == "http://127.0.0.1:8901/callbacks"
    assert public_address("127.0.0.1", 8901, allow_private=True, resolver=lambda h, p: ["127.0.0.1"]) == "127.0.0.1"


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", b"1795300000." + b'{"a":1}', hashlib.sha256).hexdigest()
    assert signature("s3cret", "1795300000", b'{"a":1}') == f"v1={expected}"
    assert verify("s3cret", "1795300000", b'{"a":1}', f"v1={expected}", now=1795300100)
    assert not verify("s3cret", "not-a-time", b'{"a":1}', f"v1={expected}", now=1795300100)


# IPv6 addresses that carry an IPv4 one a translator or tunnel would reach: Python's is_global judges the
# IPv6 address alone and calls them public.
EMBEDDING_A_PRIVATE_IPV4 = [
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::ffff:10.0.0.7",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe",  # NAT64 (well-known prefix) to 169.254.169.254, the metadata service
    "64:ff9b:1::a9fe:a9fe",  # NAT64 local-use prefix: never public
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, client 192.0.2.45 (documentation range)
]


@pytest.mark.parametrize("address", EMBEDDING_A_PRIVATE_IPV4)
def test_an_ipv6_address_is_judged_by_the_ipv4_address_it_embeds(address):
    with pytest.raises(CallbackRefused) as refused:
        public_address("callbacks.vendor.example", 443, allow_private=False, resolver=lambda h, p: [address])
    assert refused.value.reason == "callback_address_not_public"
    with pytest.raises(CallbackRefused):
        check_url(f"https://[{address}]/tf", allow_private=False)


def test_an_ipv6_address_embedding_a_public_ipv4_is_public():
    resolver = lambda h, p: ["64:ff9b::5db8:d822"]  # noqa: E731 - NAT64 of 93.184.216.34
    assert public_address("callbacks.vendor.example", 443, allow_private=False, resolver=resolver)


@pytest.mark.parametrize("port", ["0", "65536", "99999", "http", "-1", "1e3"])
def test_a_port_outside_1_to_65535_is_refused_at_registration(port):
    with pytest.raises(CallbackRefused) as refused:
        check_url(f"https://callbacks.vendor.example:{port}/tf", allow_private=False)
    assert refused.value.reason == "invalid_callback_url"


@pytest.mark.parametrize("port", ["1", "443", "8443", "65535"])
def test_a_port_from_1_to_65535_is_kept(port):
    url = f"https://callbacks.vendor.example:{port}/tf"
    assert check_url(url, allow_private=False) == url


def test_a_timestamp_from_the_future_beyond_a_small_skew_is_rejected():
    body, secret, now = b'{"event_id":"e"}', "s3cret", 1_800_000_000
    for ahead, accepted in ((0, True), (30, True), (31, False), (3600, False)):
        stamp = str(now + ahead)
        assert verify(secret, stamp, body, signature(secret, stamp, body), now=now) is accepted, ahead


def test_a_stored_url_with_a_bad_port_fails_the_job_instead_of_crashing_the_function():
    from tf_retainer.events.callbacks import CallbackJob, deliver

    job = CallbackJob(event_id="e-1", vendor="acme", detail_type="Lead Retained", answer={"status": "retained"})
    never = lambda h, p: (_ for _ in ()).throw(AssertionError("resolved"))  # noqa: E731
    delivery = deliver(
        job, "https://callbacks.vendor.example:99999/tf", "s", client=None, now=0, allow_private=False, resolver=never
    )
    assert (delivery.outcome, delivery.reason) == ("failed", "invalid_callback_url")
