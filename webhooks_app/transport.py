"""Where a webhook may point, and the one HTTP POST a delivery makes. No Django.

A webhook URL makes this server send requests, so it is checked twice: when the webhook is
saved (a clear refusal) and at every delivery. Only http and https; no credentials in the
URL; the host must resolve to public addresses only, except networks the operator allows
(WEBHOOK_ALLOWED_NETWORKS, e.g. an internal receiver). The request goes to the address that
was checked (no second DNS lookup a rebinding attacker could answer differently), with the
host name kept for the Host header and TLS, a timeout, and no redirect followed.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3

SCHEMES = ("http", "https")
RESPONSE_BODY_LIMIT = 4096

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[Any]]


class DestinationRefused(ValueError):
    """A URL this server will not send to, with why."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    target: str  # path and query
    address: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Outcome:
    status: int | None
    body: str = ""
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error


def networks_parse(values: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(value.strip(), strict=False) for value in values]
    except ValueError as exc:
        raise ValueError(f"WEBHOOK_ALLOWED_NETWORKS: {exc} (give CIDRs such as "
                         "127.0.0.1/32,10.0.0.0/8)") from exc


def _plain(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _allowed(address: Address, networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
             ) -> bool:
    address = _plain(address)
    return address.is_global or any(address in network for network in networks
                                    if network.version == address.version)


def url_check(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, target) of an acceptable URL, before any lookup."""
    if not isinstance(url, str) or not url.strip():
        raise DestinationRefused("The webhook URL is empty; give an http:// or https:// URL.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"The webhook URL {url!r} is not a URL: {exc}.") from exc
    if parts.scheme not in SCHEMES:
        raise DestinationRefused(f"The webhook URL scheme {parts.scheme or '(none)'!r} is not "
                                 "allowed; use http:// or https://.")
    if not parts.hostname:
        raise DestinationRefused(f"The webhook URL {url!r} has no host name.")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("The webhook URL holds credentials; remove them and give the "
                                 "receiver the webhook's secret to check signatures instead.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), target


def destination_check(
    url: str,
    *,
    allowed_networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network],
    resolve: Resolver = socket.getaddrinfo,
) -> Destination:
    """The checked destination of a URL: every address its host resolves to is public or in
    an allowed network (one private address among public ones is refused too)."""
    scheme, host, port, target = url_check(url)
    try:
        found = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused(f"The webhook host {host!r} does not resolve ({exc}).") from exc
    addresses = list(dict.fromkeys(ipaddress.ip_address(entry[4][0].split("%")[0])
                                   for entry in found))
    if not addresses:
        raise DestinationRefused(f"The webhook host {host!r} does not resolve.")
    refused = [str(a) for a in addresses if not _allowed(a, allowed_networks)]
    if refused:
        raise DestinationRefused(
            f"The webhook host {host!r} resolves to {', '.join(refused)}, a loopback, private "
            "or reserved address; webhooks go to public addresses only, unless the operator "
            "allows that network in WEBHOOK_ALLOWED_NETWORKS.")
    return Destination(scheme, host, port, target, str(_plain(addresses[0])))


def _pool(destination: Destination, timeout: float) -> urllib3.HTTPConnectionPool:
    limits = urllib3.Timeout(connect=timeout, read=timeout)
    if destination.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            destination.address, destination.port, timeout=limits, retries=False,
            server_hostname=destination.host, assert_hostname=destination.host,
            cert_reqs="CERT_REQUIRED")
    return urllib3.HTTPConnectionPool(destination.address, destination.port, timeout=limits,
                                      retries=False)


def post(destination: Destination, *, body: bytes, headers: dict[str, str],
         timeout: float) -> Outcome:
    """One POST; a network failure or a redirect is an Outcome with an error, never raised."""
    pool = _pool(destination, timeout)
    try:
        response = pool.urlopen("POST", destination.target, body=body,
                                headers={**headers, "Host": destination.host_header},
                                redirect=False, retries=False, preload_content=False)
        try:
            text = response.read(RESPONSE_BODY_LIMIT).decode("utf-8", "replace")
        finally:
            response.release_conn()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return Outcome(None, error=f"{type(exc).__name__}: {exc}")
    finally:
        pool.close()
    if 300 <= response.status < 400:
        where = response.headers.get("Location", "(no Location)")
        return Outcome(response.status, text, f"The receiver answered {response.status} "
                       f"redirecting to {where}; webhooks do not follow redirects: update "
                       "the webhook's URL.")
    return Outcome(response.status, text)
