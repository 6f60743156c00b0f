"""Webhook URL syntax and SSRF checks; resolution uses only localhost and .invalid names."""

from __future__ import annotations

import asyncio
import socket

import pytest

from hookline.core.urls import (
    MAX_URL_LENGTH,
    UrlError,
    is_forbidden_address,
    validate_webhook_url,
)
from hookline.delivery.resolver import check_resolved_host, resolve_vetted

# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.5",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "169.254.0.1",
        "0.0.0.0",
        "0.1.2.3",  # 0.0.0.0/8
        "100.64.0.1",  # CGNAT
        "100.127.255.255",
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "198.18.0.1",  # benchmarking
        "192.0.0.8",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",  # ULA
        "fd12:3456:789a::1",
        "fec0::1",  # site-local
        "ff02::1",  # multicast
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.5",
        "::ffff:169.254.169.254",
        "::ffff:100.64.0.1",
        "::ffff:0.0.0.0",
        "[::1]",
        "[::ffff:192.168.0.1]",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "64:ff9b::10.0.0.5",  # NAT64 of a private address
        "64:ff9b::127.0.0.1",
        "64:ff9b:1::1",  # local-use NAT64
    ],
)
def test_forbidden_addresses(ip: str) -> None:
    assert is_forbidden_address(ip) is True


@pytest.mark.parametrize(
    "ip",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "100.63.255.255",  # just below CGNAT
        "100.128.0.0",  # just above
        "172.32.0.1",  # just above 172.16/12
        "169.255.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "[2606:4700:4700::1111]",
        "::ffff:8.8.8.8",  # mapped public address: that public address
        "64:ff9b::8.8.8.8",  # NAT64 of a public address
    ],
)
def test_public_addresses(ip: str) -> None:
    assert is_forbidden_address(ip) is False


@pytest.mark.parametrize("text", ["example.com", "", "2130706433", "1.2.3", "[::1", "::g"])
def test_is_forbidden_address_needs_an_ip(text: str) -> None:
    with pytest.raises(ValueError):
        is_forbidden_address(text)


# --------------------------------------------------------------------------- syntax


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hooks",
        "https://example.com",
        "https://api.example.com:8443/hooks/in?token=abc&x=1",
        "https://EXAMPLE.com/Path",
        "https://example.com./trailing-dot",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]:443/hook",
        "https://xn--bcher-kva.example/",
        "https://bücher.example/",
        "https://my_host.example.com/",
        "https://example.com:65535/",
        "https://example.com:8443/",
        "https://example.com:1024/",
        "https://example.com/.well-known/hooks",
        "https://example.com/a/.../b",
        "https://example.com/a//b",
        "https://example.com/a?b=?",
    ],
)
def test_valid_public_urls_are_returned_unchanged(url: str) -> None:
    assert validate_webhook_url(url, allow_private=False) == url
    assert validate_webhook_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com/", "url must use https"),
        ("ftp://example.com/", "url must use https"),
        ("example.com/hook", "url must use https"),
        ("https://user:pw@example.com/", "url must not contain credentials"),
        ("https://user@example.com/", "url must not contain credentials"),
        ("https://@example.com/", "url must not contain credentials"),
        ("https://example.com/#frag", "url must not contain a fragment"),
        ("https://example.com/#", "url must not contain a fragment"),
        ("https://example.com/d?x=%zz", "'%' not followed by two hex digits"),
        ("https://example.com/100%", "'%' not followed by two hex digits"),
        ("https://example.com/a%2", "'%' not followed by two hex digits"),
        ("https:///path", "url must have a host"),
        ("https://:443/path", "url must have a host"),
        ("https://example.com:0/", "port must be between 1 and 65535"),
        ("https://example.com:65536/", "invalid port"),
        ("https://example.com:abc/", "invalid port"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/a\nb", "control characters"),
        ("https://example.com\\@evil.com/", "backslashes"),
        ("https://[::1/", "not valid"),
        ("https://[not-ipv6]/", "not valid"),
        ("https://%6c%6fcalhost/", "invalid characters"),
        ("https://999.1.1.1/", "host 999.1.1.1 is not a valid IPv4 address"),
        ("https://1.2.3.4.5/", "not a valid IPv4 address"),
        ("https://09.1.1.1/", "not a valid IPv4 address"),
        ("https://256.256/", "not a valid IPv4 address"),
        ("", "url is required"),
        # Sent otherwise than recorded: the client resolves dot segments, drops an empty query.
        ("https://example.com/../../etc", "'.' or '..' path segments"),
        ("https://example.com/a/./b", "'.' or '..' path segments"),
        ("https://example.com/a/%2e%2E/b", "'.' or '..' path segments"),
        ("https://example.com/a/..", "'.' or '..' path segments"),
        ("https://example.com/a?", "empty query"),
    ],
)
def test_syntax_errors(url: str, message: str) -> None:
    with pytest.raises(UrlError) as info:
        validate_webhook_url(url, allow_private=False)
    assert message in str(info.value)


def test_too_long() -> None:
    base = "https://example.com/"
    ok = base + "a" * (MAX_URL_LENGTH - len(base))
    assert validate_webhook_url(ok, allow_private=False) == ok
    with pytest.raises(UrlError, match="at most 2048 characters"):
        validate_webhook_url(ok + "a", allow_private=False)


def test_allow_private_permits_http_but_not_other_schemes() -> None:
    assert validate_webhook_url("http://example.com/", allow_private=True)
    with pytest.raises(UrlError, match="url must use http or https"):
        validate_webhook_url("ftp://example.com/", allow_private=True)
    # Syntax rules hold whatever the setting.
    with pytest.raises(UrlError, match="credentials"):
        validate_webhook_url("http://u:p@localhost/", allow_private=True)
    with pytest.raises(UrlError, match="fragment"):
        validate_webhook_url("http://localhost/#x", allow_private=True)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://localhost/", "host localhost is a local name"),
        ("https://LOCALHOST/", "is a local name"),
        ("https://localhost./", "is a local name"),
        ("https://api.localhost/", "is a local name"),
        ("https://printer.local/", "is a local name"),
        ("https://db.internal/", "is a local name"),
        ("https://metadata.google.internal/computeMetadata/v1/", "is a local name"),
        (
            "https://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/",
            "is a local name",
        ),  # fullwidth look-alike
        ("https://metadata/", "not a fully qualified domain name"),
        ("https://10.0.0.5/", "host 10.0.0.5 is a private address"),
        ("https://192.168.0.10:8443/", "host 192.168.0.10 is a private address"),
        ("https://127.0.0.1/", "host 127.0.0.1 is a loopback address"),
        ("https://169.254.169.254/latest/meta-data", "is a link-local address"),
        ("https://100.64.0.1/", "shared (CGNAT)"),
        ("https://0.0.0.0/", "is an unspecified address"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[::1]/", "host ::1 is a loopback address"),
        ("https://[::]/", "unspecified"),
        ("https://[fe80::1%25eth0]/", "link-local"),
        ("https://[fd00::1]/", "private"),
        ("https://[fec0::1]/", "site-local"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://[::ffff:7f00:1]/", "loopback"),
        ("https://[::ffff:a9fe:a9fe]/", "link-local"),
        (
            "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",
            "(127.0.0.1) is a loopback",
        ),  # fullwidth digits
    ],
)
def test_private_targets_refused_unless_allowed(url: str, message: str) -> None:
    with pytest.raises(UrlError) as info:
        validate_webhook_url(url, allow_private=False)
    assert message in str(info.value)
    http_url = url.replace("https://", "http://", 1)
    assert validate_webhook_url(http_url, allow_private=True) == http_url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # Integer spellings a resolver turns into 127.0.0.1 / 10.0.0.5.
        ("https://2130706433/", "host 2130706433 (127.0.0.1) is a loopback address"),
        ("https://0x7f000001/", "(127.0.0.1) is a loopback"),
        ("https://0x7f.1/", "host 0x7f.1 (127.0.0.1) is a loopback address"),
        ("https://0177.0.0.1/", "(127.0.0.1) is a loopback"),
        ("https://017700000001/", "(127.0.0.1) is a loopback"),
        ("https://127.1/", "(127.0.0.1) is a loopback"),
        ("https://10.5/", "(10.0.0.5) is a private"),
        ("https://0xa.0.0.05/", "(10.0.0.5) is a private"),
        ("https://0/", "(0.0.0.0) is an unspecified"),
        ("https://127.0.0.1./", "(127.0.0.1) is a loopback"),
    ],
)
def test_legacy_spellings_of_private_addresses_are_refused(url: str, message: str) -> None:
    # Production names the address it reaches; with private URLs allowed the spelling is
    # still refused: aiohttp connects only to a dotted quad (every delivery would fail).
    with pytest.raises(UrlError) as info:
        validate_webhook_url(url, allow_private=False)
    assert message in str(info.value)
    address = message.split("(")[1].split(")")[0]
    http_url = url.replace("https://", "http://", 1)
    with pytest.raises(UrlError) as info:
        validate_webhook_url(http_url, allow_private=True)
    assert f"is not a canonical IPv4 address: write it as {address}" in str(info.value)


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://1572395042:8443/x", "host 1572395042 is not a canonical IPv4 address"),
        ("https://1572395042/hook", "write it as 93.184.216.34"),
        ("https://134744072/", "host 134744072 is not a canonical IPv4 address"),
        ("https://0x5d.0xb8.0xd8.0x22/hook", "canonical IPv4 address: write it as 93.184.216.34"),
        ("https://93.184.216.034/hook", "not a canonical IPv4 address: write it as 93.184.216.28"),
        ("https://8.8.8.8./", "host 8.8.8.8. is not a canonical IPv4 address: write it as 8.8.8.8"),
        ("https://8.8.8.8../", "write it as 8.8.8.8"),
    ],
)
def test_ipv4_addresses_must_be_dotted_quads(url: str, message: str, allow_private: bool) -> None:
    # aiohttp refuses any other spelling at every delivery ("not a canonical IPv4 address").
    with pytest.raises(UrlError) as info:
        validate_webhook_url(url, allow_private=allow_private)
    assert message in str(info.value)


def test_dev_rules_refuse_an_integer_host_and_a_trailing_dot() -> None:
    with pytest.raises(UrlError) as info:
        validate_webhook_url("http://2130706433:18900/x", allow_private=True)
    assert str(info.value) == (
        "host 2130706433 is not a canonical IPv4 address: write it as 127.0.0.1"
    )
    with pytest.raises(UrlError) as info:
        validate_webhook_url("http://127.0.0.1./x", allow_private=True)
    assert str(info.value) == (
        "host 127.0.0.1. is not a canonical IPv4 address: write it as 127.0.0.1"
    )


@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("a" * 64 + ".example.com", "label empty or too long"),  # over 63 characters
        ("hooks." + "b" * 64 + ".example.com", "label empty or too long"),
        ("ü" * 60 + ".example.com", "not a valid host name"),  # over 63 once encoded
        ("hooks..example.com", "label empty or too long"),
        (".example.com", "label empty or too long"),
        ("hoo\u200dks.example.com", "cannot contain '\\u200d'"),  # zero-width joiner
        ("hoo\u200bks.example.com", "cannot contain '\\u200b'"),  # zero-width space
        ("hoo\u00adks.example.com", "cannot contain '\\xad'"),  # soft hyphen
        (".".join(["a" * 63] * 4), "longer than 253 characters"),
    ],
)
def test_hosts_that_are_not_valid_idna_are_refused(
    host: str, reason: str, allow_private: bool
) -> None:
    # Each would fail every delivery (yarl, getaddrinfo or TLS) with a UnicodeError/ValueError.
    with pytest.raises(UrlError) as info:
        validate_webhook_url(f"https://{host}/hook", allow_private=allow_private)
    assert str(info.value).startswith(f"host {host} is not a valid host name (")
    assert reason in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://" + "a" * 63 + ".example.com/",  # the longest label
        "https://" + ".".join(["a" * 63] * 3 + ["b" * 61]) + "/",  # 253 characters
        "https://" + ".".join(["a" * 63] * 3 + ["b" * 61]) + "./",  # and a trailing dot
        "https://faß.de/",
        "https://BÜCHER.example/",
        "https://\uff45xample.com/",  # fullwidth e: example.com
        "https://example.com.:8443/",
        "https://93.184.216.34/hook",
        "https://[2606:4700:4700::1111]/",
        "https://[::ffff:5db8:d822]/",
    ],
)
def test_forms_the_delivery_client_takes_are_accepted(url: str) -> None:
    assert validate_webhook_url(url, allow_private=False) == url
    assert validate_webhook_url(url, allow_private=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:18900/x",
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11:18900/x",  # fullwidth: 127.0.0.1
        "http://[::1]:18900/x",
        "http://localhost:18900/x",
        "http://localhost.:18900/x",
        "http://receiver:18900/x",
        "http://bücher.localhost:18900/x",
    ],
)
def test_local_forms_the_delivery_client_takes_are_accepted_in_dev(url: str) -> None:
    assert validate_webhook_url(url, allow_private=True) == url


def test_url_error_is_value_error() -> None:
    assert issubclass(UrlError, ValueError)


# --------------------------------------------------------------------------- resolution


async def test_localhost_resolves_to_loopback_and_is_refused() -> None:
    with pytest.raises(UrlError, match=r"host localhost resolves to (127\.0\.0\.1|::1)"):
        await check_resolved_host("https://localhost/hook", allow_private=False)


async def test_literal_loopback_is_refused_after_resolution() -> None:
    with pytest.raises(UrlError, match=r"resolves to 127\.0\.0\.1, a loopback address"):
        await check_resolved_host("http://127.0.0.1:8000/hook", allow_private=False)


async def test_private_hosts_pass_when_allowed() -> None:
    await check_resolved_host("http://localhost:8000/hook", allow_private=True)
    await check_resolved_host("http://127.0.0.1/hook", allow_private=True)


async def test_unresolvable_host() -> None:
    for allow_private in (False, True):
        with pytest.raises(UrlError, match=r"host nonexistent\.invalid does not resolve"):
            await check_resolved_host("https://nonexistent.invalid/", allow_private=allow_private)


async def test_url_without_host() -> None:
    with pytest.raises(UrlError, match="host"):
        await check_resolved_host("https:///x", allow_private=False)


def _fake_resolver(monkeypatch: pytest.MonkeyPatch, addresses: list[str]) -> list[tuple]:
    """Make getaddrinfo answer ``addresses`` (a DNS record that changed after saving)."""
    calls: list[tuple] = []
    loop = asyncio.get_running_loop()

    async def getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple]:
        calls.append((host, port, kwargs))
        results = []
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
            results.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return results

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return calls


async def test_public_name_rebound_to_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_resolver(monkeypatch, ["93.184.216.34", "10.0.0.5"])
    # Passes the syntax check: the name looks public.
    assert validate_webhook_url("https://hooks.example.com/x", allow_private=False)
    with pytest.raises(UrlError, match=r"hooks\.example\.com resolves to 10\.0\.0\.5, a private"):
        await check_resolved_host("https://hooks.example.com/x", allow_private=False)


async def test_any_forbidden_ipv6_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_resolver(monkeypatch, ["2606:4700:4700::1111", "::ffff:169.254.169.254"])
    with pytest.raises(UrlError, match="link-local"):
        await check_resolved_host("https://hooks.example.com/x", allow_private=False)


async def test_all_public_answers_pass_and_port_is_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _fake_resolver(monkeypatch, ["93.184.216.34", "2606:2800:220:1::1"])
    await check_resolved_host("https://hooks.example.com/x", allow_private=False)
    await check_resolved_host("http://hooks.example.com:8080/x", allow_private=False)
    await check_resolved_host("http://hooks.example.com/x", allow_private=False)
    assert [(host, port) for host, port, _ in calls] == [
        ("hooks.example.com", 443),
        ("hooks.example.com", 8080),
        ("hooks.example.com", 80),
    ]


async def test_empty_answer_means_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_resolver(monkeypatch, [])
    with pytest.raises(UrlError, match="does not resolve"):
        await check_resolved_host("https://hooks.example.com/x", allow_private=True)


async def test_resolve_vetted_returns_the_addresses_once_each_in_resolver_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answer = ["2606:2800:220:1::1", "93.184.216.34", "2606:2800:220:1::1", "93.184.216.35"]
    calls = _fake_resolver(monkeypatch, answer)
    addresses = await resolve_vetted("https://hooks.example.com:8443/x", allow_private=False)
    assert addresses == ["2606:2800:220:1::1", "93.184.216.34", "93.184.216.35"]
    assert [(host, port) for host, port, _ in calls] == [("hooks.example.com", 8443)]


async def test_resolve_vetted_refuses_any_forbidden_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_resolver(monkeypatch, ["93.184.216.34", "169.254.169.254"])
    with pytest.raises(UrlError, match=r"resolves to 169\.254\.169\.254, a link-local address"):
        await resolve_vetted("https://hooks.example.com/x", allow_private=False)


async def test_resolve_vetted_returns_private_addresses_when_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_resolver(monkeypatch, ["127.0.0.1", "::1"])
    assert await resolve_vetted("http://hooks.example.com/x", allow_private=True) == [
        "127.0.0.1",
        "::1",
    ]


async def test_resolve_vetted_resolves_the_name_httpx_would_connect_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Lowercase and IDNA 2008 (what goes into Host and SNI), not IDNA 2003's "fass.de".
    calls = _fake_resolver(monkeypatch, ["93.184.216.34"])
    await resolve_vetted("https://HOOKS.Example.com/x", allow_private=False)
    await resolve_vetted("https://faß.de/x", allow_private=False)
    assert [host for host, _, _ in calls] == ["hooks.example.com", "xn--fa-hia.de"]


async def test_resolve_vetted_refuses_bad_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_resolver(monkeypatch, ["93.184.216.34"])
    with pytest.raises(UrlError, match="url must have a host"):
        await resolve_vetted("https:///x", allow_private=False)
    for port in ("99999", "0", "-1"):
        with pytest.raises(UrlError, match=f"url is not valid: port {port} out of range"):
            await resolve_vetted(f"https://hooks.example.com:{port}/x", allow_private=False)
    with pytest.raises(UrlError, match="url is not valid: Invalid port"):
        await resolve_vetted("https://hooks.example.com:http/x", allow_private=False)
    assert calls == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.com:22/", "below 1024"),
        ("https://example.com:25/", "below 1024"),
        ("https://example.com:1/", "below 1024"),
        ("https://example.com:80/", "below 1024"),
        ("https://example.com:6667/", "Fetch standard"),
        ("https://example.com:10080/", "Fetch standard"),
    ],
)
def test_ports_of_other_protocols_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UrlError, match=reason):
        validate_webhook_url(url, allow_private=False)
    # Local development lifts the port rule with the address rules.
    assert validate_webhook_url(url, allow_private=True) == url
