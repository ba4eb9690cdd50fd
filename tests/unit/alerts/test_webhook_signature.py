"""HMAC-SHA256 signature of the webhook sink and its verification."""

from __future__ import annotations

import hashlib
import hmac

from monitor.alerts.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, signed_headers, verify

SECRET = b"s3cret"
BODY = b'{"id":"a1","status":"firing"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1738771200." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, "1738771200", BODY) == f"sha256={expected}"
    assert signature(SECRET, "1738771200", BODY) != signature(SECRET, "1738771201", BODY)


def test_headers_verify_and_tampering_is_rejected() -> None:
    headers = signed_headers(SECRET, BODY, now=1_738_771_200.9)
    ts, sig = headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER]
    assert ts == "1738771200"
    assert verify(SECRET, ts, BODY, sig, now=1_738_771_210)
    assert not verify(SECRET, ts, BODY.replace(b"firing", b"resolved"), sig, now=1_738_771_210)
    assert not verify(b"other", ts, BODY, sig, now=1_738_771_210)
    assert not verify(SECRET, "1738771201", BODY, sig, now=1_738_771_210)
    assert not verify(SECRET, ts, BODY, sig, now=1_738_771_200 + 3600)  # replayed an hour later
    assert not verify(SECRET, "yesterday", BODY, sig, now=1_738_771_210)


def test_no_secret_means_no_signature_headers() -> None:
    assert signed_headers(None, BODY, now=0) == {}
