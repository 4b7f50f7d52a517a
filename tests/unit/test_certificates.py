"""Certificate URL validation: the API key must never be sent anywhere but cert.trustedform.com."""

import pytest
from tf_retainer.providers.trustedform.certificates import CertificateKind, InvalidCertificateUrl, parse_certificate_url

WEB_ID = "eb9fc4dd9bed9ad451a5648946cf4bf09b5bb947"
MOBILE_ID = "A" * 40 + "b-_9" * 10
META_ID = "0.AbC_d-1.eFg2.hIj3_-"


@pytest.mark.parametrize(
    ("raw", "cert_id", "kind"),
    [
        (f"https://cert.trustedform.com/{WEB_ID}", WEB_ID, CertificateKind.WEB),
        (f"https://CERT.TrustedForm.com/{WEB_ID}", WEB_ID, CertificateKind.WEB),
        (f"https://cert.trustedform.com/{WEB_ID.upper()}", WEB_ID, CertificateKind.WEB),
        (f"http://cert.trustedform.com/{WEB_ID}", WEB_ID, CertificateKind.WEB),  # upgraded to https
        (f"https://cert.trustedform.com:443/{WEB_ID}", WEB_ID, CertificateKind.WEB),
        (f"https://cert.trustedform.com/{WEB_ID}?shared_token=abc123", WEB_ID, CertificateKind.WEB),
        (f"https://cert.trustedform.com/{WEB_ID}#replay", WEB_ID, CertificateKind.WEB),
        (f"  https://cert.trustedform.com/{WEB_ID}  ", WEB_ID, CertificateKind.WEB),
        (
            f",https://cert.trustedform.com/{WEB_ID}, https://cert.trustedform.com/{'b' * 40}",
            WEB_ID,
            CertificateKind.WEB,
        ),
        (f"https://cert.trustedform.com/{MOBILE_ID}", MOBILE_ID, CertificateKind.MOBILE),
        (f"https://cert.trustedform.com/{META_ID}", META_ID, CertificateKind.META),
    ],
)
def test_valid_certificate_urls_are_rebuilt_from_the_id(raw, cert_id, kind):
    cert = parse_certificate_url(raw)
    assert cert.cert_id == cert_id
    assert cert.kind is kind
    assert cert.url == f"https://cert.trustedform.com/{cert_id}"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " , ,",
        f"https://cert-trustedform.com/{WEB_ID}",  # an unescaped regex dot
        f"https://certxtrustedform.com/{WEB_ID}",
        f"https://cert.trustedform.com.evil.example/{WEB_ID}",  # unanchored host / startswith
        f"https://cert.trustedform.com@evil.example/{WEB_ID}",  # user info: the host is evil.example
        f"https://user:pass@cert.trustedform.com/{WEB_ID}",
        f"https://evil.example/cert.trustedform.com/{WEB_ID}",
        f"https://evil.example/?u=https://cert.trustedform.com/{WEB_ID}",
        f"https://cert.trustedform.com:8443/{WEB_ID}",
        f"http://cert.trustedform.com:443/{WEB_ID}",
        f"https://cert.trustedform.com./{WEB_ID}",
        f"https://cert.staging.trustedform.com/{WEB_ID}",  # staging is never a production target
        f"https://ping.trustedform.com/{WEB_ID}",  # ping certificates are not retainable
        f"ftp://cert.trustedform.com/{WEB_ID}",
        f"javascript://cert.trustedform.com/{WEB_ID}",
        f"//cert.trustedform.com/{WEB_ID}",
        f"cert.trustedform.com/{WEB_ID}",
        f"https://cert.trustedform.com\\@evil.example/{WEB_ID}",
        f"https://cert.trustedform.com%2eevil.example/{WEB_ID}",
        f"https://cert.trustedform.com/{WEB_ID}/extra",
        f"https://cert.trustedform.com//{WEB_ID}",
        f"https://cert.trustedform.com/{WEB_ID}%2f..",
        f"https://cert.trustedform.com/../{WEB_ID}",
        "https://cert.trustedform.com/",
        "https://cert.trustedform.com/" + "a" * 39,  # too short for web, wrong for mobile
        "https://cert.trustedform.com/" + "g" * 40,  # not hex
        "https://cert.trustedform.com/" + "A" * 81,
        "https://cert.trustedform.com/0." + "a" * 300 + ".b.c",  # over 255 characters
        "https://cert.trustedform.com/0.a.b",  # Meta needs three parts
        f"https://cert.trustedform.com/{WEB_ID}\r\nHost: evil.example",
        f"https://cert.trustedform.com/\u0000{WEB_ID}",
        f"https://cert.trustedform.com/{WEB_ID[:-1]}\u0430",  # a Cyrillic look-alike
        f"https://cert.trustedform.\u0441om/{WEB_ID}",  # a Cyrillic es in the host
        "https://cert.trustedform.com/" + WEB_ID + "?shared_token=" + "a" * 3000,  # absurdly long
    ],
)
def test_hostile_or_malformed_urls_are_refused(raw):
    with pytest.raises(InvalidCertificateUrl) as refused:
        parse_certificate_url(raw)
    assert refused.value.reason == "invalid_certificate_url"
    assert refused.value.detail


def test_non_string_is_refused():
    with pytest.raises(InvalidCertificateUrl):
        parse_certificate_url(12345)
