"""A webhook URL makes the server send requests: only http(s) to public addresses, unless
the operator allows a network."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from webhooks_app.transport import DestinationRefused, destination_check, url_check


def resolving_to(*addresses):
    def resolve(host, port, type=None):
        family = socket.AF_INET6
        return [(family, socket.SOCK_STREAM, 6, "", (address, port)) for address in addresses]

    return resolve


@pytest.mark.parametrize("url, words", [
    ("file:///etc/passwd", "scheme 'file'"),
    ("ftp://example.com/x", "scheme 'ftp'"),
    ("gopher://example.com", "scheme 'gopher'"),
    ("example.com/hook", r"scheme '\(none\)'"),
    ("http:///nohost", "no host name"),
    ("https://user:pw@example.com/", "credentials"),
    ("", "empty"),
    ("http://example.com:99999/", "not a URL"),
])
def test_it_refuses_urls_that_are_not_plain_http_or_https(url, words):
    with pytest.raises(DestinationRefused, match=words):
        url_check(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.7", "169.254.169.254",
                                     "100.64.0.1", "::1", "fd00::1", "::ffff:127.0.0.1",
                                     "0.0.0.0"])
def test_it_refuses_hosts_that_resolve_to_private_or_reserved_addresses(address):
    with pytest.raises(DestinationRefused, match="WEBHOOK_ALLOWED_NETWORKS"):
        destination_check("https://hooks.example.com/x", allowed_networks=[],
                          resolve=resolving_to(address))


def test_one_private_address_among_public_ones_is_refused():
    with pytest.raises(DestinationRefused, match="10.0.0.5"):
        destination_check("https://hooks.example.com/x", allowed_networks=[],
                          resolve=resolving_to("93.184.216.34", "10.0.0.5"))


def test_an_allowed_network_and_public_addresses_pass_and_the_checked_address_is_used():
    allowed = [ipaddress.ip_network("10.0.0.0/8")]
    internal = destination_check("http://ci.internal:8080/hook?x=1", allowed_networks=allowed,
                                 resolve=resolving_to("10.2.3.4"))
    assert (internal.address, internal.port, internal.target) == ("10.2.3.4", 8080,
                                                                  "/hook?x=1")
    assert internal.host_header == "ci.internal:8080"
    public = destination_check("https://hooks.example.com", allowed_networks=[],
                               resolve=resolving_to("93.184.216.34"))
    assert (public.address, public.port, public.target, public.host_header) == (
        "93.184.216.34", 443, "/", "hooks.example.com")


def test_a_host_that_does_not_resolve_is_refused():
    def fail(*args, **kwargs):
        raise socket.gaierror("Name or service not known")

    with pytest.raises(DestinationRefused, match="does not resolve"):
        destination_check("https://nowhere.invalid/", allowed_networks=[], resolve=fail)
