"""SSRF: which addresses a webhook may reach. A URL is resolved and every
address it resolves to must be public; the connection is then made to the
checked address (never resolved again by the HTTP client), so a DNS answer
that changes between the check and the connect cannot smuggle in 10.0.0.1."""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

class UnsafeUrl(ValueError):
    """The URL may not be called; `reason` is a short code for the delivery log."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query
    address: str  # the checked IP the connection goes to


def system_resolver(host: str, port: int) -> list[str]:
    """(host, port) -> its addresses; tests hand `check_url` a fake instead."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # not found, or refused by the resolver
        return []
    return list(dict.fromkeys(info[4][0] for info in infos))


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def parse_url(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("bad_url", "Give an http or https URL with a host.")
    if parts.username or parts.password:
        raise UnsafeUrl("bad_url", "A webhook URL may not carry a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("bad_url", "The URL's port is not valid.") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def check_url(url: str, *, allow_loopback: bool, resolve=system_resolver) -> Target:
    """The URL's target with an address it may connect to; UnsafeUrl if the
    host does not resolve or any of its addresses is not public (loopback
    allowed only with `allow_loopback`)."""
    scheme, host, port, path = parse_url(url)
    try:
        literal = ipaddress.ip_address(host)
        addresses = [str(literal)]
    except ValueError:
        addresses = resolve(host, port)
    if not addresses:
        raise UnsafeUrl("unresolved", "The URL's host does not resolve.")
    for text in addresses:
        reason = _refusal(ipaddress.ip_address(text.split("%")[0]), allow_loopback)
        if reason:
            raise UnsafeUrl(reason, f"The URL resolves to a {reason.replace('_', '-')} address, "
                                    "which webhooks may not reach.")
    return Target(scheme, host, port, path, addresses[0])
