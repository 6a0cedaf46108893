"""Where the shop may send its events: an endpoint URL is checked when an admin saves it and again
before every delivery, because a webhook is a request the shop's own machines make on someone's
say-so — without these checks an endpoint could point a worker at the office router, a database's
HTTP port or a cloud's metadata service (server-side request forgery).

Rules: an absolute http(s) URL without a user name or password in it; https unless the host is
this machine (loopback: a receiver in a test or on the same server); and every address the host
name resolves to must be a public one — unless an admin allowed an address in a private network
for this endpoint (`allow_private`). Loopback counts as private.

The resolver is a parameter so tests can say what a name resolves to without DNS; the default asks
the operating system (`getaddrinfo`), as the HTTP client will.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, urlsplit, urlunsplit

from ecomdesk.services.errors import ValidationError

#: host, port → the IP addresses (text) the host name stands for; raises `OSError` when it has none.
Resolver = Callable[[str, int], Sequence[str]]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Carrier-grade NAT (RFC 6598): not a public address, though Python's `is_private` says False.
_CGNAT: Final = ipaddress.ip_network("100.64.0.0/10")
#: Longest URL accepted (the column is unbounded; a receiver's URL is never this long).
MAX_URL_LENGTH: Final = 2_000


class UnresolvableHost(ValidationError):
    """The host name has no address right now: at delivery time a retry may succeed, unlike a
    refused address."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the operating system gives for `host` (what the HTTP client will connect to)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _loopback_name(host: str) -> bool:
    """A name that always means this machine (RFC 6761 reserves `localhost` and its subdomains)."""
    return host == "localhost" or host.endswith(".localhost")


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def address_problem(address: IPAddress) -> str | None:
    """Why an address is not a public one, in words a shop admin understands; None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_problem(address.ipv4_mapped)
    if address.is_loopback:
        return "is this computer itself (loopback)"
    if address.is_unspecified:
        return "is not a real destination (unspecified address)"
    if address.is_link_local:
        return "is a link-local address (such as a cloud server's metadata service)"
    if address.is_multicast:
        return "is a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "is in a carrier-grade NAT network (shared address space)"
    if address.is_reserved:
        return "is a reserved address, not on the public internet"
    if address.is_private:
        return "is in a private network (such as the office network)"
    if not address.is_global:
        return "is a reserved address, not on the public internet"
    return None


def _split(url: str) -> tuple[SplitResult | None, str | None]:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port out of range or not a number
    except ValueError:
        return None, "This is not a valid web address."
    return parts, None


@dataclass(frozen=True)
class CheckedTarget:
    """An endpoint URL that passed the checks, with the addresses it was checked against."""

    url: str
    #: The host name as written (lower case), and the URL's `host[:port]` for the Host header.
    host: str
    netloc: str
    #: Every address the name resolved to, all allowed; None for an IP address written in the URL.
    addresses: tuple[str, ...] | None

    def pinned_url(self) -> str:
        """The URL with its host name replaced by the first checked address: the request goes where
        the check looked, even if the name resolves elsewhere a moment later (DNS rebinding)."""
        if not self.addresses:
            return self.url
        parts = urlsplit(self.url)
        address = self.addresses[0]
        shown = f"[{address}]" if ":" in address else address
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        return urlunsplit(parts._replace(netloc=netloc))


def validate_endpoint_url(url: str, *, allow_private: bool, resolve: Resolver = resolve_host) -> str:
    """The URL (stripped) if the shop may send events to it; else `ValidationError({"url": …})`
    (`UnresolvableHost` when the name has no address)."""
    return check_endpoint_url(url, allow_private=allow_private, resolve=resolve).url


def check_endpoint_url(url: str, *, allow_private: bool, resolve: Resolver = resolve_host) -> CheckedTarget:
    """`validate_endpoint_url`, keeping the addresses it checked (for the delivery to connect to)."""
    text = url.strip()
    if not text:
        raise ValidationError({"url": "Enter the receiver's address, e.g. https://example.com/hooks."})
    if len(text) > MAX_URL_LENGTH:
        raise ValidationError({"url": f"Use at most {MAX_URL_LENGTH:,} characters ({len(text):,} given)."})
    parts, problem = _split(text)
    if parts is None:
        raise ValidationError({"url": problem or "This is not a valid web address."})
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            {"url": "Enter a full web address starting with https://, e.g. https://example.com/hooks."}
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            {
                "url": "Remove the user name and password from the address: events are signed with the "
                "endpoint's secret instead."
            }
        )
    if any(ch.isspace() for ch in text):
        raise ValidationError({"url": "A web address cannot contain spaces."})
    host = parts.hostname.lower().rstrip(".")
    literal = _literal(host)
    loopback = _loopback_name(host) or (literal is not None and literal.is_loopback)
    if parts.scheme.lower() != "https" and not loopback:
        raise ValidationError(
            {"url": "Use https:// — events carry shop data and must be encrypted on the way."}
        )
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            resolved = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnresolvableHost(
                {"url": f"The host name {host} cannot be found (check the spelling, or try again later)."}
            ) from exc
        addresses = []
        for item in resolved:
            found = _literal(item.split("%", 1)[0])  # an IPv6 scope (fe80::1%eth0) is not part of it
            if found is not None:
                addresses.append(found)
        if not addresses:
            raise UnresolvableHost({"url": f"The host name {host} has no address right now."})
    if not allow_private:
        for address in addresses:
            why = address_problem(address)
            if why is not None:
                plain = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
                shown = host if literal is not None else f"{host} ({plain or address})"
                raise ValidationError(
                    {
                        "url": f"{shown} {why}. Events are only sent to public addresses unless you "
                        "allow an address in a private network for this endpoint."
                    }
                )
    checked = None if literal is not None else tuple(str(address) for address in addresses)
    return CheckedTarget(text, host, parts.netloc, checked)


__all__ = [
    "MAX_URL_LENGTH",
    "CheckedTarget",
    "Resolver",
    "UnresolvableHost",
    "address_problem",
    "check_endpoint_url",
    "resolve_host",
    "validate_endpoint_url",
]
