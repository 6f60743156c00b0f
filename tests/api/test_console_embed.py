"""The console embedded in a platform's page (HOOKLINE_CONSOLE_EMBED_ORIGINS): frame-ancestors
from the setting, cookies that work in a cross-site iframe, CSRF still required. The browser
test (tests/browser/test_console_portal.py) signs in and submits inside a real iframe."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from hookline.infra.config import Settings
from tests.api.test_console import CSRF, login_link

ORIGINS = "https://app.example.com, https://*.partner.example"


def cookie(answer, name: str) -> str:
    return next(c for c in answer.headers.get_list("set-cookie") if c.startswith(name + "="))


def csp(answer) -> str:
    return answer.headers["content-security-policy"]


async def test_off_by_default_strict_cookies_and_only_self_may_frame(client, tenant):
    link = await login_link(client, tenant.headers)
    shown = await client.get(link["url"])
    assert "frame-ancestors 'self';" in csp(shown)
    assert re.search(r"script-src 'nonce-[\w-]+'", csp(shown))
    login_cookie = cookie(shown, "hookline_sign_in")
    assert "SameSite=strict" in login_cookie and "Partitioned" not in login_cookie


async def test_on_the_configured_origins_may_frame_and_cookies_are_partitioned(api, tenant):
    async with api(console_embed_origins=ORIGINS) as client:
        link = await login_link(client, tenant.headers)
        shown = await client.get(link["url"])
        assert "frame-ancestors 'self' https://app.example.com https://*.partner.example;" in csp(
            shown
        )
        login_cookie = cookie(shown, "hookline_sign_in")
        for attribute in ("SameSite=none", "Secure", "Partitioned", "HttpOnly"):
            assert attribute in login_cookie
        # httpx keeps Secure cookies for https only: this test sends them itself.
        login_value = login_cookie.split(";", 1)[0]
        csrf = CSRF.search(shown.text).group(1)
        forged = await client.post(
            link["url"], data={"csrf": "0" * 64}, headers={"Cookie": login_value}
        )
        assert forged.status_code == 403
        signed = await client.post(
            link["url"], data={"csrf": csrf}, headers={"Cookie": login_value}
        )
        assert signed.status_code == 303, signed.text
        assert "frame-ancestors 'self' https://app.example.com" in csp(signed)
        session_cookie = cookie(signed, "hookline_console")
        for attribute in ("SameSite=none", "Secure", "Partitioned", "HttpOnly", "Path=/console"):
            assert attribute in session_cookie
        session_value = session_cookie.split(";", 1)[0]
        client.cookies.clear()
        home = await client.get("/console", headers={"Cookie": session_value})
        assert home.status_code == 200 and "acme" in home.text
        # SameSite=None sends the cookie from any site: the form token is what refuses it.
        no_token = await client.post("/console/logout", headers={"Cookie": session_value})
        assert no_token.status_code == 403
        out = await client.post(
            "/console/logout",
            data={"csrf": CSRF.search(home.text).group(1)},
            headers={"Cookie": session_value},
        )
        assert out.status_code == 200
        assert "Partitioned" in cookie(out, "hookline_console")  # deleted in its partition


@pytest.mark.parametrize(
    "value",
    ["*", "https://app.example.com/path", "'self'", "https://a.example; script-src *", "ftp://x"],
)
def test_embed_origins_are_checked_at_start(value):
    with pytest.raises(ValidationError, match="not an origin"):
        Settings(console_embed_origins=value)


async def test_a_strange_sign_in_cookie_is_replaced_not_a_500(client, tenant):
    link = await login_link(client, tenant.headers)
    shown = await client.get(link["url"], headers={"Cookie": 'hookline_sign_in="a b=c"'})
    assert shown.status_code == 200
    assert re.match(r"hookline_sign_in=[\w-]{43};", cookie(shown, "hookline_sign_in"))
