"""Webhook URL checks: syntax when a webhook is saved, and SSRF at both save and delivery time.

Two layers, because a name that is public today may resolve to ``10.0.0.5`` tomorrow:

- ``validate_webhook_url`` (no I/O) checks the URL and refuses local names and literal
  private addresses, including the spellings that resolvers accept (``2130706433``,
  ``0x7f.1``, ``[::ffff:127.0.0.1]``...). It reads the host as the delivery client does
  (yarl, then aiohttp and getaddrinfo), with private URLs allowed or not: an IPv4 address
  other than a dotted quad (``2130706433``, ``127.0.0.1.``) and a name that is not valid IDNA
  (a label over 63 characters, an invisible character) are refused, as every delivery would.
- ``vet_addresses`` refuses a host when any address it resolved to is forbidden. The delivery
  resolver (``hookline.delivery.resolver``) calls it on every lookup right before connecting,
  and the connection goes to one of the vetted addresses, never to the name again: a second
  lookup could answer ``127.0.0.1`` (DNS rebinding). ``resolve_vetted`` resolves and vets.

Ports (``check_port``): 443, or 1024-65535 except the WHATWG Fetch standard's "bad ports".
A webhook is a POST whose body the tenant chooses, sent from our network: aimed at a port of
a line-based service (SMTP 25, SSH 22, IRC 6667, ...) its lines can be read as that
protocol's commands (cross-protocol request forgery). Browsers refuse those ports for the
same reason; HTTPS webhooks need none of them, and no service that expects raw lines lives
on 443.

``allow_private`` (``HOOKLINE_ALLOW_PRIVATE_URLS``, set by ``hookline dev``) lifts the address,
name and port rules and allows plain http, for local receivers.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, unquote, urlsplit

from yarl import URL

MAX_URL_LENGTH = 2048
MAX_HOST_NAME_LENGTH = 253  # DNS: 255 octets on the wire

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOCAL_NAMES = ("localhost",)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")

# Beyond what ipaddress flags as private/reserved/...: ranges that must never be reached.
_V4_EXTRA = {
    ipaddress.IPv4Network("0.0.0.0/8"): "unspecified",  # "this network"
    ipaddress.IPv4Network("100.64.0.0/10"): "shared (CGNAT)",
    ipaddress.IPv4Network("192.0.0.0/24"): "reserved",  # IETF protocol assignments
    ipaddress.IPv4Network("198.18.0.0/15"): "reserved",  # benchmarking
}
_V6_EXTRA = {
    ipaddress.IPv6Network("fc00::/7"): "private",  # unique local
    ipaddress.IPv6Network("fec0::/10"): "site-local",
    ipaddress.IPv6Network("64:ff9b:1::/48"): "private",  # local-use NAT64
    ipaddress.IPv6Network("100::/64"): "reserved",  # discard-only
}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


# https://fetch.spec.whatwg.org/#port-blocking
FETCH_BAD_PORTS = frozenset(
    {1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101,
     102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389,
     427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
     989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566,
     6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080}
)  # fmt: skip
HTTPS_PORT = 443
FIRST_UNPRIVILEGED_PORT = 1024


class UrlError(ValueError):
    """A webhook URL that is malformed or points somewhere hookline must not send to."""


# --------------------------------------------------------------------------- addresses


def is_forbidden_address(ip: str) -> bool:
    """True for addresses a webhook must not reach (loopback, private, link-local, ...).

    Accepts IPv4 and IPv6 text, optionally bracketed, with a zone id; raises ``ValueError``
    for anything else.
    """
    return _forbidden_kind(_parse_ip(ip)) is not None


def _parse_ip(text: str) -> IPAddress:
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return ipaddress.ip_address(text)


def _forbidden_kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is forbidden ("loopback", "private"...), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:a.b.c.d and NAT64 64:ff9b::a.b.c.d reach exactly that IPv4 address.
        if ip.ipv4_mapped is not None:
            return _forbidden_kind(ip.ipv4_mapped)
        if ip in _NAT64:
            return _forbidden_kind(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        # IPv6 forms that carry an IPv4 address, which is what would really be reached.
        for embedded in _embedded_ipv4(ip):
            kind = _forbidden_kind(embedded)
            if kind is not None:
                return kind
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),  # includes 169.254.169.254, the cloud metadata
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local"),
    )
    for flagged, kind in checks:
        if flagged:
            return kind
    extra: dict = _V4_EXTRA if isinstance(ip, ipaddress.IPv4Address) else _V6_EXTRA
    for network, kind in extra.items():
        if ip in network:
            return kind
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = []
    if ip.sixtofour is not None:  # 2002:aabb:ccdd::/48
        found.append(ip.sixtofour)
    if ip.teredo is not None:  # 2001:0::/32, (server, client)
        found.extend(ip.teredo)
    return found


# --------------------------------------------------------------------------- syntax


_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def validate_webhook_url(url: str, *, allow_private: bool) -> str:
    """Check a webhook URL; return it unchanged, or raise ``UrlError`` saying what is wrong."""
    if not isinstance(url, str) or not url:
        raise UrlError("url is required")
    if len(url) > MAX_URL_LENGTH:
        raise UrlError(f"url must be at most {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs/newlines and clients disagree on backslashes: refuse them.
    if any(ch <= " " or ch == "\x7f" or ch == "\\" for ch in url):
        raise UrlError("url must not contain spaces, control characters or backslashes")
    # The HTTP client would send a stray "%" as "%25": a URL other than the one recorded.
    if _STRAY_PERCENT.search(url):
        raise UrlError("url has a '%' not followed by two hex digits (write a percent sign as %25)")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UrlError(f"url is not valid: {exc}") from exc

    if allow_private:
        if parts.scheme not in ("https", "http"):
            raise UrlError("url must use http or https")
    elif parts.scheme != "https":
        raise UrlError("url must use https")
    if "@" in parts.netloc:
        raise UrlError("url must not contain credentials")
    if "#" in url:
        raise UrlError("url must not contain a fragment")
    # The HTTP client resolves dot segments ("/a/../b" is sent as "/b") and drops an empty
    # query: the URL recorded would not be the one POSTed to.
    segments = (re.sub("%2[eE]", ".", segment) for segment in parts.path.split("/"))
    if any(segment in (".", "..") for segment in segments):
        raise UrlError("url has '.' or '..' path segments: write the path they lead to")
    if url.endswith("?") and not parts.query:
        raise UrlError("url ends with an empty query ('?'): leave it out")
    if not parts.hostname:
        raise UrlError("url must have a host")
    try:
        port = parts.port
    except ValueError as exc:
        raise UrlError("url has an invalid port") from exc
    if port is not None and not 1 <= port <= 65535:
        raise UrlError("port must be between 1 and 65535")
    if port is not None and not allow_private:
        check_port(port)

    _check_host(url, parts, allow_private=allow_private)
    return url


def check_port(port: int) -> None:
    """The port policy (module docstring): 443, or 1024-65535 but Fetch's bad ports."""
    if port == HTTPS_PORT:
        return
    if port < FIRST_UNPRIVILEGED_PORT:
        raise UrlError(
            f"port {port} is not allowed: use 443 or a port from {FIRST_UNPRIVILEGED_PORT} to "
            "65535 (ports below 1024 belong to other protocols' services)"
        )
    if port in FETCH_BAD_PORTS:
        raise UrlError(
            f"port {port} is not allowed: it is on the Fetch standard's list of ports of "
            "non-HTTP services (https://fetch.spec.whatwg.org/#port-blocking)"
        )


def _check_host(url: str, parts: SplitResult, *, allow_private: bool) -> None:
    host = parts.hostname or ""
    shown = host
    if "[" in parts.netloc:
        try:
            ip: IPAddress | None = ipaddress.IPv6Address(unquote(host))
        except ValueError as exc:
            raise UrlError(f"host {host} is not a valid IPv6 address") from exc
        delivered = _delivered_host(url, shown=host)
    else:
        if any(ch in host for ch in "%[]"):  # percent-encoded names decode differently
            raise UrlError(f"host {host} contains invalid characters")
        # The host as the delivery client will take it (``URL(url)`` in delivery/send.py).
        delivered = _delivered_host(url, shown=host)
        # yarl's IDNA maps look-alikes (fullwidth letters and digits) onto what is resolved.
        name = delivered.rstrip(".")
        ip = _legacy_ipv4(name, shown=host)
        if ip is None:
            _check_host_name(delivered, shown=host)
            if not allow_private:
                _check_name(name, shown=host)
        elif host != str(ip):  # say what "0x7f.1" really is
            shown = f"{host} ({ip})"

    if ip is not None and not allow_private:
        kind = _forbidden_kind(ip)
        if kind is not None:
            raise UrlError(f"host {shown} is {_article(kind)} {kind} address")
    if isinstance(ip, ipaddress.IPv4Address) and delivered != str(ip):
        # aiohttp connects only to a dotted quad (and would resolve "0x7f.1" as a name).
        raise UrlError(f"host {host} is not a canonical IPv4 address: write it as {ip}")


def _delivered_host(url: str, *, shown: str) -> str:
    """The host yarl gives aiohttp for ``url``: lowercase, IDNA-encoded, IPv6 unbracketed."""
    try:
        delivered = URL(url).raw_host
    except ValueError as exc:  # UnicodeError too: invalid IDNA, invisible characters...
        raise UrlError(f"host {shown} is not a valid host name ({exc})") from exc
    if not delivered:
        raise UrlError("url must have a host")
    return delivered


def _check_host_name(name: str, *, shown: str) -> None:
    """What the delivery's resolver (getaddrinfo) and TLS (SNI) do with a name: encode it
    with Python's ``idna`` codec, which refuses an empty label or one over 63 characters."""
    try:
        name.encode("idna")
    except UnicodeError as exc:
        raise UrlError(f"host {shown} is not a valid host name ({exc})") from exc
    if len(name.rstrip(".")) > MAX_HOST_NAME_LENGTH:
        raise UrlError(
            f"host {shown} is not a valid host name (longer than {MAX_HOST_NAME_LENGTH} characters)"
        )


def _check_name(name: str, *, shown: str) -> None:
    if name in _LOCAL_NAMES or name.endswith(_LOCAL_SUFFIXES):
        raise UrlError(f"host {shown} is a local name")
    # Single-label names resolve through search domains (e.g. "metadata" on GCE).
    if "." not in name:
        raise UrlError(f"host {shown} is not a fully qualified domain name")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# WHATWG URL host parsing: a host whose last label is a number is an IPv4 address, written
# with 1-4 parts in decimal, octal (leading 0) or hex (0x). Resolvers (inet_aton) agree.
def _legacy_ipv4(host: str, *, shown: str) -> ipaddress.IPv4Address | None:
    labels = host.split(".")
    if _ipv4_number(labels[-1]) is None and not labels[-1].isdigit():
        return None  # a domain name
    numbers = [_ipv4_number(label) for label in labels]
    if len(labels) > 4 or any(n is None for n in numbers):
        raise UrlError(f"host {shown} is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise UrlError(f"host {shown} is not a valid IPv4 address")
    address = values[-1]
    for index, part in enumerate(values[:-1]):
        address += part << (8 * (3 - index))
    return ipaddress.IPv4Address(address)


def _ipv4_number(label: str) -> int | None:
    if not label:
        return None
    if label[:2] == "0x":
        digits, base, allowed = label[2:], 16, "0123456789abcdef"
    elif len(label) > 1 and label[0] == "0":
        digits, base, allowed = label[1:], 8, "01234567"
    else:
        digits, base, allowed = label, 10, "0123456789"
    if not digits:
        return 0  # "0x" alone is zero
    # Check characters ourselves: int() would also accept "_", "+" and spaces.
    if any(ch not in allowed for ch in digits):
        return None
    return int(digits, base)


# --------------------------------------------------------------------------- resolution


def vet_addresses(host: str, addresses: list[str]) -> None:
    """Raise ``UrlError`` if ANY address ``host`` resolved to is forbidden: the delivery
    resolver (``hookline.delivery.resolver``) calls this before anything connects."""
    for address in addresses:
        kind = _forbidden_kind(_parse_ip(address))
        if kind is not None:
            raise UrlError(f"host {host} resolves to {address}, {_article(kind)} {kind} address")
