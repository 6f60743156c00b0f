"""The console as a platform's app portal, in Chromium: embedded in a page of another site
(HOOKLINE_CONSOLE_EMBED_ORIGINS), signed in and used inside the iframe; refused as a frame when
embedding is off or the page's origin is not listed. And the attempt inspector, and search.

The platform's page is served by the test receiver on http://localhost:<port>; the console on
http://127.0.0.1:<port>: another site (the cookies' SameSite boundary). Chromium treats both
loopback names as potentially trustworthy, so the embedded console's `Secure` cookies are set
over plain http here; anywhere else the console must be served over HTTPS to be embedded."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.async_api import expect

from hookline.devserver import free_port, stop_process
from tests.browser.conftest import login_url, sign_in
from tests.support.receiver import Reply

SETTLE = 60_000  # ms
SIGN_IN = re.compile(r"^Sign in to ")


@pytest.fixture
def embed_api(console_stack, receiver) -> Iterator[str]:
    """A second API process of the console stack (same store, same Temporal) that lets pages
    of http://localhost:<receiver port> embed its console; its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = console_stack.env | {
        "HOOKLINE_CONSOLE_EMBED_ORIGINS": f"http://localhost:{receiver.port}",
        "HOOKLINE_PUBLIC_URL": base,
        "HOOKLINE_EMBEDDED_WORKER": "false",  # the stack's worker delivers
    }
    with open(console_stack.data_dir / "api-embed.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hookline.cli", "api", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise TimeoutError("the embedding API did not start")
        yield base
    finally:
        stop_process(process)


def platform_page(receiver, path: str, src: str) -> str:
    """The platform's dashboard, with the console in an iframe; its URL on localhost."""
    receiver.script(
        path,
        Reply(
            headers={"Content-Type": "text/html; charset=utf-8"},
            body="<!doctype html><title>Acme dashboard</title>"
            '<body style="font-family:sans-serif;background:#eef2f7;margin:16px">'
            "<h1>Acme dashboard: Webhooks</h1>"
            f'<iframe title="Webhooks portal" src="{html.escape(src)}" width="1280" '
            'height="640" style="border:1px solid #99a"></iframe></body>',
        ),
    )
    return f"http://localhost:{receiver.port}{path}"


async def link_on(base: str, headers: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=base) as api:
        answer = await api.post("/api/v1/console/sessions", headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]["url"]


async def test_embedded_in_another_site_sign_in_see_webhooks_and_submit_a_form(
    console_stack, embed_api, receiver, context, shots
):
    stack = console_stack
    label = f"portal-{os.urandom(3).hex()}"
    async with httpx.AsyncClient(base_url=embed_api) as api:
        made = await api.post(
            "/api/v1/webhooks",
            headers=stack.headers,
            json={"url": receiver.url("/portal"), "events": ["user.*"], "description": label},
        )
    assert made.status_code == 201, made.text

    page = await context.new_page()
    link = await link_on(embed_api, stack.headers)
    await page.goto(platform_page(receiver, "/dashboard", link))
    frame = page.frame_locator('iframe[title="Webhooks portal"]')
    await expect(frame.get_by_role("button", name=SIGN_IN)).to_be_visible()
    await shots(page, "embedded-confirm")
    await frame.get_by_role("button", name=SIGN_IN).click()  # CSRF: the sign-in form's token
    await expect(frame.get_by_role("heading", name="Webhooks")).to_be_visible()
    await expect(frame.get_by_text(label)).to_be_visible()
    await shots(page, "embedded-signed-in")

    # A form inside the iframe: its CSRF token and the partitioned cookie go with it.
    await frame.get_by_label("Endpoint URL").fill(receiver.url("/portal-2"))
    await frame.get_by_label("Event types").fill("user.created")
    await frame.get_by_label("Description").fill(label + "-second")
    await frame.get_by_role("button", name="Create webhook").click()
    await expect(frame.get_by_label("Signing secret")).to_be_visible()
    await shots(page, "embedded-form-submitted")
    async with httpx.AsyncClient(base_url=embed_api) as api:
        listed = await api.get("/api/v1/webhooks", headers=stack.headers, params={"limit": 100})
        mine = [w for w in listed.json()["data"] if (w["description"] or "").startswith(label)]
        assert {w["description"] for w in mine} == {label, label + "-second"}
        for webhook in mine:  # the stack is shared: no later event goes to this receiver
            await api.delete(f"/api/v1/webhooks/{webhook['id']}", headers=stack.headers)

    cookies = {c["name"]: c for c in await context.cookies()}
    session = cookies["hookline_console"]
    assert session["sameSite"] == "None" and session["secure"] and session["httpOnly"]

    # Partitioned: the console opened on its own (another top-level site) has no session.
    alone = await context.new_page()
    await alone.goto(f"{embed_api}/console")
    await expect(alone.get_by_role("heading", name="Not signed in")).to_be_visible()


async def refused(page, url: str) -> str:
    """Opens `url` and returns Chromium's console message refusing its iframe."""
    async with page.expect_console_message(
        lambda m: "frame-ancestors" in m.text, timeout=15_000
    ) as message:
        await page.goto(url)
    frame = page.frame_locator('iframe[title="Webhooks portal"]')
    await expect(frame.get_by_role("button", name=SIGN_IN)).to_have_count(0)
    return (await message.value).text


async def test_the_frame_is_refused_when_embedding_is_off_or_the_origin_is_not_listed(
    console_stack, embed_api, receiver, context, shots
):
    page = await context.new_page()
    # Embedding off (the console stack's API): only the console itself may frame it.
    link = await login_url(console_stack, console_stack.headers)
    text = await refused(page, platform_page(receiver, "/off", link))
    assert "frame-ancestors 'self'" in text
    await shots(page, "embedding-off-refused")
    # Embedding on, but for localhost:<port> only: the same page on 127.0.0.1 is refused.
    link = await link_on(embed_api, console_stack.headers)
    platform_page(receiver, "/unlisted", link)
    await refused(page, f"http://127.0.0.1:{receiver.port}/unlisted")
    await shots(page, "unlisted-origin-refused")


async def test_the_attempt_inspector_and_search(console_stack, receiver, context, shots):
    stack = console_stack
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    ref = f"ord_{os.urandom(4).hex()}"
    receiver.script(
        "/inspected",
        [
            Reply(503, headers={"Retry-After": "6", "X-Receiver": "busy"}, body="later"),
            Reply(200, headers={"Content-Type": "application/json"}, body='{"received":true}'),
        ],
    )
    async with httpx.AsyncClient(base_url=stack.base_url) as api:
        made = await api.post(
            "/api/v1/webhooks",
            headers=stack.headers,
            json={
                "url": receiver.url("/inspected"),
                "events": ["user.updated"],
                "headers": {"Authorization": "Bearer never-shown"},
            },
        )
        assert made.status_code == 201, made.text
        secret = made.json()["data"]["secret"]
        published = await api.post(
            "/api/v1/events",
            headers={**stack.headers, "Idempotency-Key": f"key-{ref}"},
            json={"type": "user.updated", "data": {"order": {"ref": ref}, "user": "usr_1"}},
        )
        assert published.status_code == 202, published.text
    event_id = published.json()["data"]["id"]

    page = await context.new_page()
    await sign_in(page, await login_url(stack, stack.headers))
    # Search by a payload field, then by the idempotency key.
    await page.goto(f"{stack.base_url}/console/events")
    await page.get_by_label("Payload field").fill(f"order.ref={ref}")
    await page.get_by_role("button", name="Apply").click()
    rows = page.locator("table.list tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(event_id)
    await shots(page, "search-payload-field")
    await page.get_by_label("Payload field").fill("")
    await page.get_by_label("Event id or idempotency key").fill(f"key-{ref}")
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    await rows.first.get_by_role("link", name=event_id).click()

    # Attempt 1 answered 503 with Retry-After: 6. Its inspector, opened, stays open across
    # the page's refreshes; it shows when the retry is due.
    # (Other tests' webhooks of the stack's tenant may take user.updated too: ours only.)
    ours = page.locator("article.delivery").filter(
        has=page.get_by_role("link", name=receiver.url("/inspected"), exact=True)
    )
    first = ours.locator("details.inspect").first
    await expect(first).to_be_visible(timeout=SETTLE)
    await first.locator("summary").click()
    sent = first.get_by_label("Headers as sent")
    await expect(sent).to_have_value(re.compile(r"X-Webhook-Signature: [0-9a-f]{64}"))
    await expect(sent).to_have_value(re.compile(r"webhook-signature: v1,"))
    await expect(sent).to_have_value(re.compile("Authorization: •{8}"))
    await expect(first.get_by_label("Headers", exact=True)).to_have_value(
        re.compile("X-Receiver: busy")
    )
    due = first.locator(".retry-due")
    status = ours.locator("header .badge")
    if await status.inner_text() != "succeeded":
        await expect(due).to_contain_text("Next attempt due")
        await shots(page, "inspector-retry-due")
    # Copy (console.js, allowed by the page's nonce): the clipboard holds the headers.
    await first.get_by_role("button", name="Copy").first.click()
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert "X-Webhook-Signature: " in copied and "Authorization: ••••••••" in copied
    # Local time on hover: console.js rewrote the UTC title.
    title = await first.locator("summary time").get_attribute("title")
    assert title and title.endswith("(your time)")

    await expect(status).to_have_text("succeeded", timeout=SETTLE)
    await expect(first).to_have_attribute("open", "")  # still open after the refreshes
    second = ours.locator("details.inspect").nth(1)
    await second.locator("summary").click()
    await expect(second.get_by_label("Body (first 4 KiB)")).to_have_value('{"received":true}')
    body = await page.get_by_label("Body as sent").input_value()
    assert body == receiver.for_path("/inspected")[0].body.decode()
    content = await page.content()
    assert secret not in content and "never-shown" not in content
    await second.scroll_into_view_if_needed()
    await shots(page, "inspector")
