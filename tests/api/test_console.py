"""The console over ASGI: sign-in links, the session cookie, CSRF, tenant isolation, errors."""

from __future__ import annotations

import asyncio
import html
import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from hookline.core import ids
from hookline.store.tables import Attempt, ConsoleSession, Delivery, Event, Webhook
from tests.api.conftest import assert_error
from tests.conftest import make_tenant

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
NONCE = re.compile(r'nonce="[^"]+"')


async def login_link(client: httpx.AsyncClient, headers: dict, **body) -> dict:
    answer = await client.post("/api/v1/console/sessions", headers=headers, json=body or None)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


async def open_link(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """Opens a sign-in link and confirms it on the page it shows; the confirmation's answer."""
    shown = await client.get(url)
    assert shown.status_code == 200, shown.text
    return await client.post(url, data={"csrf": CSRF.search(shown.text).group(1)})


async def sign_in(client: httpx.AsyncClient, headers: dict) -> str:
    """Signs `client` in (its cookie jar keeps the session); returns the page's CSRF token."""
    link = await login_link(client, headers)
    answer = await open_link(client, link["url"])
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    home = await client.get("/console")
    assert home.status_code == 200, home.text
    return CSRF.search(home.text).group(1)


def browser(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A second browser on the same app: its own cookie jar."""
    return httpx.AsyncClient(transport=client._transport, base_url="http://test")


async def add_event(sessions, tenant_id: str, webhook_id: str, status: str = "failed") -> str:
    now = datetime.now(UTC)
    event_id = ids.event_id()
    async with sessions.begin() as session:
        session.add(
            Event(
                id=event_id, tenant_id=tenant_id, type="user.created", data={"n": 1},
                created=now, status=status, stages=[{"stage": "received", "at": now.isoformat(),
                "detail": ""}], expires_at=now + timedelta(days=7),
            )
        )  # fmt: skip
        await session.flush()
        session.add(
            Delivery(
                id=ids.delivery_id(event_id, webhook_id), tenant_id=tenant_id, event_id=event_id,
                webhook_id=webhook_id, event_type="user.created", status=status, attempts=1,
            )
        )  # fmt: skip
    return event_id


async def test_a_session_link_signs_in_once_and_leaves_no_token_in_the_url(
    client, tenant, sessions
):
    link = await login_link(client, tenant.headers)
    assert link["url"].startswith("http://test/console/login/")
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)

    answer = await open_link(client, link["url"])
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("hookline_console=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    value = client.cookies["hookline_console"]
    home = await client.get("/console")
    assert home.status_code == 200 and "acme" in home.text

    # Only hashes are stored: neither the link's token nor the cookie's value.
    token = link["url"].rsplit("/", 1)[1]
    async with sessions() as session:
        row = (await session.scalars(select(ConsoleSession))).one()
    assert token not in repr(row.__dict__) and value not in repr(row.__dict__)
    assert row.tenant_id == tenant.tenant_id and row.used_at is not None

    # Used once: a second browser cannot sign in with it.
    async with browser(client) as other:
        again = await other.get(link["url"])
        assert again.status_code == 401
        assert "cannot be used" in again.text and "text/html" in again.headers["content-type"]
        assert (await other.get("/console")).status_code == 401


async def test_an_expired_link_does_not_sign_in(client, tenant, sessions):
    link = await login_link(client, tenant.headers, expires_in=60)
    async with sessions.begin() as session:
        await session.execute(
            update(ConsoleSession).values(login_expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    answer = await client.get(link["url"])
    assert answer.status_code == 401 and "expired, was already used" in answer.text
    assert "hookline_console" not in client.cookies


async def test_an_expired_session_is_signed_out(client, tenant, sessions):
    await sign_in(client, tenant.headers)
    async with sessions.begin() as session:
        await session.execute(
            update(ConsoleSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    answer = await client.get("/console")
    assert answer.status_code == 401 and "expired" in answer.text


@pytest.mark.parametrize("expires_in", [0, 29, 86401, "soon"])
async def test_expires_in_is_bounded(client, tenant, expires_in):
    answer = await client.post(
        "/api/v1/console/sessions", headers=tenant.headers, json={"expires_in": expires_in}
    )
    assert_error(answer, 422)


async def test_the_session_endpoint_needs_webhooks_write(client, settings):
    reader = await make_tenant(settings, "reader", scopes=["webhooks:read", "events:read"])
    assert_error(await client.post("/api/v1/console/sessions", headers=reader.headers), 403)
    assert_error(await client.post("/api/v1/console/sessions"), 401)


async def test_a_session_has_no_more_scopes_than_its_token(client, settings):
    writer = await make_tenant(settings, "writer", scopes=["webhooks:read", "webhooks:write"])
    await sign_in(client, writer.headers)
    answer = await client.get("/console/events")
    assert answer.status_code == 403 and "events:read" in answer.text


async def test_forms_refuse_a_missing_or_wrong_csrf_token(client, tenant):
    csrf = await sign_in(client, tenant.headers)
    form = {"url": "https://example.com/hook", "events": "user.*"}
    for token in (None, "0" * 64):
        data = form if token is None else form | {"csrf": token}
        refused = await client.post("/console/webhooks", data=data)
        assert refused.status_code == 403 and "security token" in refused.text
    listed = await client.get("/api/v1/webhooks", headers=tenant.headers)
    assert listed.json()["meta"]["total"] == 0

    created = await client.post("/console/webhooks", data=form | {"csrf": csrf})
    assert created.status_code == 201
    assert re.search(r'value="whsec_[A-Za-z0-9+/=]+"', created.text)  # shown once
    assert (await client.get("/api/v1/webhooks", headers=tenant.headers)).json()["meta"][
        "total"
    ] == 1


async def test_console_output_is_escaped(client, tenant, create_webhook):
    webhook = await create_webhook(description="<script>alert(1)</script>")
    await sign_in(client, tenant.headers)
    for path in ("/console", f"/console/webhooks/{webhook['id']}"):
        text = (await client.get(path)).text
        assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


async def test_another_tenants_ids_look_unknown(client, tenant, settings, sessions, create_webhook):
    webhook = await create_webhook()
    event_id = await add_event(sessions, tenant.tenant_id, webhook["id"])
    other = await make_tenant(settings, "globex")
    await sign_in(client, other.headers)

    home = (await client.get("/console")).text
    events = (await client.get("/console/events")).text
    assert webhook["id"] not in home and webhook["url"] not in home
    assert event_id not in events and "No events match" in events
    pairs = [
        (f"/console/webhooks/{webhook['id']}", f"/console/webhooks/{ids.webhook_id()}"),
        (f"/console/events/{event_id}", f"/console/events/{ids.event_id()}"),
    ]
    for foreign, unknown in pairs:
        seen, missing = await client.get(foreign), await client.get(unknown)
        assert seen.status_code == missing.status_code == 404
        foreign_id, unknown_id = foreign.rsplit("/", 1)[1], unknown.rsplit("/", 1)[1]
        # Alike but for the id and each page's script nonce.
        seen_text = NONCE.sub("", seen.text.replace(foreign_id, "ID"))
        assert seen_text == NONCE.sub("", missing.text.replace(unknown_id, "ID"))
    # Nor can it change them: the form answers the same 404.
    csrf = CSRF.search(home).group(1)
    changed = await client.post(
        f"/console/webhooks/{webhook['id']}/status", data={"csrf": csrf, "status": "inactive"}
    )
    assert changed.status_code == 404
    redelivered = await client.post(f"/console/events/{event_id}/redeliver", data={"csrf": csrf})
    assert redelivered.status_code == 404
    detail = await client.get(f"/api/v1/webhooks/{webhook['id']}", headers=tenant.headers)
    assert detail.json()["data"]["status"] == "active"


async def test_the_events_page_filters_and_pages_by_keyset(
    client, tenant, sessions, create_webhook
):
    webhook = await create_webhook()
    made = [await add_event(sessions, tenant.tenant_id, webhook["id"]) for _ in range(55)]
    ok = await add_event(sessions, tenant.tenant_id, webhook["id"], status="succeeded")
    await sign_in(client, tenant.headers)
    first = await client.get("/console/events", params={"status": "failed"})
    assert first.status_code == 200 and ok not in first.text
    shown = re.findall(r'href="/console/events/(evt_\w+)"', first.text)
    assert len(shown) == 50
    older = re.search(r'rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    second = await client.get(older)
    rest = re.findall(r'href="/console/events/(evt_\w+)"', second.text)
    assert len(rest) == 5 and set(shown) | set(rest) == set(made)
    newer = re.search(r'rel="prev" href="([^"]+)"', second.text).group(1).replace("&amp;", "&")
    back = re.findall(r'href="/console/events/(evt_\w+)"', (await client.get(newer)).text)
    assert back == shown

    bad = await client.get("/console/events", params={"status": "nope", "since": "yesterday"})
    assert bad.status_code == 400 and "unknown status" in bad.text


async def test_logout_ends_the_session(client, tenant):
    csrf = await sign_in(client, tenant.headers)
    answer = await client.post("/console/logout", data={"csrf": csrf})
    assert answer.status_code == 200 and "signed out" in answer.text
    assert (await client.get("/console")).status_code == 401


async def test_console_errors_are_pages_and_api_errors_stay_json(client, tenant):
    page = await client.get("/console/nowhere")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert_error(await client.get("/api/v1/nowhere", headers=tenant.headers), 404)
    assert_error(await client.get("/api/v1/events/evt_x", headers=tenant.headers), 404)
    # A page typed with a trailing slash goes to its address, never to the Host's.
    slash = await client.get("/console/events/?status=failed", headers={"Host": "evil.example"})
    assert slash.status_code == 307
    assert slash.headers["location"] == "/console/events?status=failed"
    posted = await client.post("/console/logout/")
    assert posted.status_code == 404 and "text/html" in posted.headers["content-type"]


async def test_sparklines_and_rates_count_the_last_24_hours_on_either_store(
    client, tenant, sessions, create_webhook
):
    webhook = await create_webhook(description="CRM sync")
    event_id = await add_event(sessions, tenant.tenant_id, webhook["id"])
    delivery_id = ids.delivery_id(event_id, webhook["id"])
    now = datetime.now(UTC)
    tries = [
        (now - timedelta(minutes=20), 200),
        (now - timedelta(minutes=25), 503),
        (now - timedelta(hours=5, minutes=30), None),
        (now - timedelta(hours=30), 200),  # older than the window
    ]
    async with sessions.begin() as session:
        for number, (started, code) in enumerate(tries, start=1):
            session.add(
                Attempt(
                    id=ids.attempt_id(delivery_id, 0, number), tenant_id=tenant.tenant_id,
                    delivery_id=delivery_id, event_id=event_id, webhook_id=webhook["id"],
                    number=number, series=0, trigger="scheduled", url=webhook["url"],
                    status_code=code, outcome="retry", duration_ms=10, started_at=started,
                )
            )  # fmt: skip
    await sign_in(client, tenant.headers)
    label = "Attempts in the last 24 hours, by status: 1 2xx, 1 5xx, 1 network"
    home = await client.get("/console")
    assert label in home.text
    assert re.search(r"0\.0 %\s*<div class=\"sub\">0 / 1</div>", home.text)  # 1 failed
    detail = (await client.get(f"/console/webhooks/{webhook['id']}")).text
    assert label in detail
    # One bar per hour, oldest left: the last hour's two, five hours before that one more.
    bars = re.findall(r'<rect class="c-(\w+)" x="([\d.]+)"', detail)
    hours = sorted((name, round(float(x) / (168 / 24))) for name, x in bars)
    assert hours == [("2xx", 23), ("5xx", 23), ("network", 18)]


async def test_the_webhook_forms_edit_disable_rotate_test_and_explain(
    client, tenant, receiver, create_webhook
):
    webhook = await create_webhook(url=receiver.url("/hook"), events=["user.*"])
    base = f"/console/webhooks/{webhook['id']}"
    csrf = await sign_in(client, tenant.headers)

    async def api_view() -> dict:
        answer = await client.get(f"/api/v1/webhooks/{webhook['id']}", headers=tenant.headers)
        return answer.json()["data"]

    edit = {"csrf": csrf, "url": receiver.url("/hook"), "events": "user.created, user.deleted"}
    bad = await client.post(f"{base}/edit", data=edit | {"filter": '{"data.plan": '})
    assert bad.status_code == 422 and "filter is not valid JSON" in bad.text
    assert (await api_view())["events"] == ["user.*"]  # nothing changed
    saved = await client.post(
        f"{base}/edit", data=edit | {"description": "CRM", "filter": '{"data.plan": "pro"}'}
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{base}?notice=updated"
    view = await api_view()
    assert view["events"] == ["user.created", "user.deleted"]
    assert view["filter"] == {"data.plan": "pro"} and view["description"] == "CRM"

    disabled = await client.post(f"{base}/status", data={"csrf": csrf, "status": "inactive"})
    assert disabled.status_code == 303 and (await api_view())["status"] == "inactive"
    page = await client.get(disabled.headers["location"])
    assert "Webhook disabled" in page.text and ">Enable</button>" in page.text
    # A replay could only skip its deliveries: not offered, and refused if posted anyway.
    assert "Replay events since" not in page.text
    replay = {"csrf": csrf, "since": "2025-01-31T09:00"}
    refused = await client.post(f"{base}/replay", data=replay)
    assert refused.status_code == 409 and "activate it, then redeliver" in refused.text
    await client.post(f"{base}/status", data={"csrf": csrf, "status": "active"})
    assert "Replay events since" in (await client.get(base)).text
    assert (await api_view())["status"] == "active"

    rotated = await client.post(f"{base}/rotate-secret", data={"csrf": csrf})
    new_secret = re.search(r'value="(whsec_[^"]+)"', rotated.text).group(1)
    assert new_secret != webhook["secret"] and "previous secret also signs" in rotated.text

    tested = await client.post(f"{base}/test", data={"csrf": csrf, "event": "user.created"})
    assert "Test event sent successfully" in tested.text and "HTTP 200" in tested.text
    [request] = await receiver.wait_for(1)
    assert request.json()["type"] == "user.created"

    trial = {"csrf": csrf, "type": "user.created", "data": '{"plan": "free"}'}
    no = await client.post(f"{base}/filter-test", data=trial)
    assert "No match" in no.text and "filter did not match" in no.text
    yes = await client.post(f"{base}/filter-test", data=trial | {"filter": '{"data.plan": "free"}'})
    assert "Matches" in yes.text and "type user.created matches" in yes.text
    wrong = await client.post(f"{base}/filter-test", data=trial | {"data": "[1]"})
    assert wrong.status_code == 422 and "must be a JSON object" in wrong.text


async def test_a_form_over_a_fields_limit_comes_back_with_its_input(client, tenant, create_webhook):
    """Over the API's limit for a field, a form is shown again with what was typed and the
    field's limit; a payload longer than a line of text is tried in the playground."""
    webhook = await create_webhook(events=["user.*"])
    csrf = await sign_in(client, tenant.headers)
    long_filter = '{"data.plan": "' + "p" * 25_000 + '"}'
    created = await client.post(
        "/console/webhooks",
        data={"csrf": csrf, "url": "https://example.com/kept", "events": "user.created",
              "description": "d" * 20_500, "filter": long_filter},
    )  # fmt: skip
    assert created.status_code == 422
    assert "description" in created.text and "1000 characters" in created.text
    assert 'value="https://example.com/kept"' in created.text and "p" * 25_000 in created.text

    data = '{"plan": "pro", "notes": "' + "n" * 30_000 + '"}'
    trial = {"csrf": csrf, "type": "user.created", "data": data, "filter": '{"data.plan": "pro"}'}
    tried = await client.post(f"/console/webhooks/{webhook['id']}/filter-test", data=trial)
    assert tried.status_code == 200 and "Matches" in tried.text

    schema = {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(4000)}}
    added = await client.post(
        "/console/event-types",
        data={"csrf": csrf, "name": "report.ready", "schema": json.dumps(schema)},
    )
    assert added.status_code == 422 and "schema is larger than 65536 bytes" in added.text
    assert 'value="report.ready"' in added.text and '"p3999"' in html.unescape(added.text)


async def test_hookline_dev_mints_a_link_for_the_bootstrap_tenant(client, settings):
    from hookline.api.console.sessions import dev_login_url
    from hookline.store.admin import new_token_value

    # Before the API has started: it makes the bootstrap tenant as the API would.
    url = await asyncio.to_thread(dev_login_url, settings, new_token_value())
    assert url.startswith("http://test/console/login/")
    answer = await open_link(client, url)
    assert answer.status_code == 303
    assert "Tenant <strong>default</strong>" in (await client.get("/console")).text


async def test_the_webhook_page_shows_its_limits_and_its_circuit(
    client, tenant, create_webhook, sessions
):
    webhook = await create_webhook(max_in_flight=3, rate_limit=20, ordering="fifo")
    async with sessions.begin() as session:
        await session.execute(
            update(Webhook)
            .where(Webhook.id == webhook["id"])
            .values(
                breaker_state="open",
                breaker_until=datetime.now(UTC) + timedelta(minutes=1),
                breaker_history=[
                    {"at": datetime.now(UTC).isoformat(), "event": "opened: 7 of 10 failed"}
                ],
            )
        )
    api = (await client.get(f"/api/v1/webhooks/{webhook['id']}", headers=tenant.headers)).json()
    assert api["data"]["circuit"]["state"] == "open"
    assert api["data"]["circuit"]["history"][0]["event"] == "opened: 7 of 10 failed"
    assert (api["data"]["max_in_flight"], api["data"]["rate_limit"]) == (3, 20)
    assert api["data"]["ordering"] == "fifo"
    await sign_in(client, tenant.headers)
    page = (await client.get(f"/console/webhooks/{webhook['id']}")).text
    assert "20 per second" in page
    assert re.search(r"<dt>In flight at most</dt><dd>3</dd>", page)
    assert "<dt>Order</dt><dd>one at a time, in publish order (fifo)</dd>" in page
    assert re.search(r'<dd class="bad">open until', page)
    assert "opened: 7 of 10 failed" in page


async def test_a_webhook_page_offers_the_tenants_own_types_to_try(
    client, tenant, receiver, create_webhook
):
    """A webhook subscribed only to the tenant's own types can be tested from its page: the
    test event and the filter playground list them, the playground starting on one it takes."""
    created = await client.post(
        "/api/v1/event-types", json={"name": "order.created"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    webhook = await create_webhook(url=receiver.url("/hook"), events=["order.*"])
    await sign_in(client, tenant.headers)
    page = await client.get(f"/console/webhooks/{webhook['id']}")
    assert page.status_code == 200
    for select_id in ("test-event", "try-type"):
        options = re.search(rf'<select id="{select_id}"[^>]*>(.*?)</select>', page.text, re.S)
        assert options and "<option" in options[1] and ">order.created<" in options[1], select_id
    playground = re.search(r'<select id="try-type"[^>]*>(.*?)</select>', page.text, re.S)[1]
    assert "<option selected>order.created</option>" in playground
