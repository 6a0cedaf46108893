"""Where the shop may send its events (no request forgery into the office network), the signature
and the retry schedule's small parts — with a resolver that says what a name resolves to, so no
test depends on DNS."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
from collections.abc import Sequence

import pytest

from ecomdesk.services.errors import ValidationError
from ecomdesk.services.webhook_delivery import event_body, parse_retry_after, retry_delay, sign
from ecomdesk.services.webhook_urls import (
    Resolver,
    UnresolvableHost,
    check_endpoint_url,
    validate_endpoint_url,
)


def resolving_to(*addresses: str) -> Resolver:
    def resolve(host: str, port: int) -> Sequence[str]:
        return addresses

    return resolve


def public(host: str, port: int) -> Sequence[str]:
    return ["93.184.216.34"]


def refused(url: str, *, allow_private: bool = False, resolve: Resolver = public) -> str:
    with pytest.raises(ValidationError) as error:
        validate_endpoint_url(url, allow_private=allow_private, resolve=resolve)
    assert set(error.value.fields) == {"url"}
    return error.value.fields["url"]


def test_a_public_https_address_is_accepted_as_typed() -> None:
    url = "  https://hooks.partner.example:8443/in?shop=1  "
    assert validate_endpoint_url(url, allow_private=False, resolve=public) == url.strip()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "Enter the receiver's address"),
        ("hooks.partner.example/in", "starting with https://"),
        ("ftp://hooks.partner.example/in", "starting with https://"),
        ("https:///in", "starting with https://"),
        ("https://user:pw@hooks.partner.example/in", "Remove the user name and password"),
        ("https://hooks.partner.example:99999/in", "not a valid web address"),
        ("http://hooks.partner.example/in", "Use https://"),
    ],
)
def test_malformed_or_unencrypted_addresses_are_refused_with_a_reason(url: str, says: str) -> None:
    assert says in refused(url)


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("10.0.0.5", "private network"),
        ("172.16.3.4", "private network"),
        ("192.168.1.1", "private network"),
        ("169.254.169.254", "link-local"),  # the cloud metadata service
        ("fe80::1", "link-local"),
        ("fd12:3456::1", "private network"),  # unique-local fc00::/7
        ("100.64.1.2", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.5", "private network"),  # an IPv4 address dressed as IPv6
    ],
)
def test_a_name_resolving_to_a_non_public_address_is_refused_unless_allowed(address: str, says: str) -> None:
    resolve = resolving_to("93.184.216.34", address)  # one bad address among good ones is enough
    message = refused("https://hooks.partner.example/in", resolve=resolve)
    assert (
        says in message
        and address.removeprefix("::ffff:") in message
        and "allow an address in a private network" in message
    )
    assert validate_endpoint_url("https://hooks.partner.example/in", allow_private=True, resolve=resolve)


def test_an_address_literal_is_judged_without_asking_the_resolver() -> None:
    def no_dns(host: str, port: int) -> Sequence[str]:
        raise AssertionError("an IP literal needs no lookup")

    assert "private network" in refused("https://10.1.1.1/in", resolve=no_dns)
    assert "link-local" in refused("https://[fe80::1]/in", resolve=no_dns)
    assert validate_endpoint_url("https://93.184.216.34/in", allow_private=False, resolve=no_dns)


def test_plain_http_is_only_for_this_machine_and_even_that_must_be_allowed() -> None:
    for url in ("http://127.0.0.1:8080/in", "http://localhost:8080/in", "http://[::1]:8080/in"):
        assert "loopback" in refused(url, resolve=resolving_to("127.0.0.1"))
        assert validate_endpoint_url(url, allow_private=True, resolve=resolving_to("127.0.0.1")) == url
    assert "Use https://" in refused("http://10.0.0.5/in", allow_private=True)


def test_a_name_without_an_address_is_its_own_error() -> None:
    def nxdomain(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UnresolvableHost) as error:
        validate_endpoint_url("https://nowhere.invalid/in", allow_private=False, resolve=nxdomain)
    assert "cannot be found" in error.value.fields["url"]


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_with_the_secret() -> None:
    body = b'{"id":"e1"}'
    expected = hmac.new(b"s3cret-s3cret-s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret-s3cret-s3cret", 1_700_000_000, body) == f"t=1700000000,v1={expected}"


def test_the_body_is_compact_json_with_id_type_utc_time_and_data() -> None:
    moment = dt.datetime(2026, 11, 27, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    body = event_body("e-1", "user.created", moment, {"email": "zoë@shop.example"})
    expected = (
        '{"id":"e-1","type":"user.created","created":"2026-11-27T09:30:00.000Z",'
        '"data":{"email":"zoë@shop.example"}}'
    )
    assert body == expected.encode()


def test_retry_delays_double_up_to_an_hour_with_jitter_and_honour_retry_after() -> None:
    rng = random.Random(3)
    for n in range(1, 20):
        delay = retry_delay(n, 30, rng)
        cap = min(30 * 2 ** (n - 1), 3600)
        assert cap * 0.5 <= delay <= cap
    assert retry_delay(1, 30, rng, retry_after=600) == 600
    assert retry_delay(1, 30, rng, retry_after=10 * 86_400) == 6 * 3600  # a receiver cannot park it for days


def test_retry_after_is_read_as_seconds_or_an_http_date() -> None:
    now = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Fri, 27 Nov 2026 09:02:00 GMT", now) == 120
    assert parse_retry_after("Fri, 27 Nov 2026 08:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize(
    ("url", "addresses", "pinned", "netloc"),
    [
        ("https://hooks.example.com/in?x=1", ["93.184.216.34"], "https://93.184.216.34/in?x=1",
         "hooks.example.com"),
        ("https://hooks.example.com:8443/in", ["2606:2800:220:1::1"], "https://[2606:2800:220:1::1]:8443/in",
         "hooks.example.com:8443"),
        ("https://93.184.216.34/in", [], "https://93.184.216.34/in", "93.184.216.34"),
    ],
)  # fmt: skip
def test_a_checked_url_is_pinned_to_the_first_address_it_was_checked_against(
    url: str, addresses: list[str], pinned: str, netloc: str
) -> None:
    target = check_endpoint_url(url, allow_private=False, resolve=lambda host, port: addresses)
    assert (target.pinned_url(), target.netloc) == (pinned, netloc)
