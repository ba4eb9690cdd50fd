"""Secrets inside ordinary strings: URL passwords and tokens, credential-named parameters and headers."""

from __future__ import annotations

import pytest

from monitor.redact import MASK, mask_headers, mask_url, secret_name


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:hunter2@db:6380/0", f"redis://:{MASK}@db:6380/0"),
        ("redis://liqmon:hunter2@db:6380/0", f"redis://liqmon:{MASK}@db:6380/0"),
        ("https://ghp_abc123@hooks.example/x", f"https://{MASK}@hooks.example/x"),
        (
            "https://h.example/hook?channel=ops&token=abc&api_key=k1",
            f"https://h.example/hook?channel=ops&token={MASK}&api_key={MASK}",
        ),
        ("https://h.example/hook?X-Amz-Signature=ff&flag", f"https://h.example/hook?X-Amz-Signature={MASK}&flag"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        ("redis://db:6379/0", "redis://db:6379/0"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_an_unparsable_url_is_masked_whole() -> None:
    assert mask_url("http://[::1:secret@x") == MASK


def test_credential_headers_are_masked_and_the_rest_kept() -> None:
    headers = {"Authorization": "Bearer t", "X-Api-Key": "k", "X-Team": "ops", "Cookie": "s=1"}
    assert mask_headers(headers) == {"Authorization": MASK, "X-Api-Key": MASK, "X-Team": "ops", "Cookie": MASK}
    assert secret_name("PRIVATE-TOKEN")
    assert not secret_name("Content-Type")
