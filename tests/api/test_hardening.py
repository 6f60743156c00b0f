"""Holes an attacker found against `hookline dev`, each closed: the console's JSON goes through
the API's parser and limits, revoking a token ends console access, the codec decodes only the
caller's tenant, extreme values answer 4xx, sign-in links name the configured host and ask
before they replace a session."""

from __future__ import annotations

import base64

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from hookline.infra.crypto import EncryptionCodec, generate_key
from hookline.store.admin import revoke_token
from tests.api.conftest import assert_error, token_id_of
from tests.api.test_console import CSRF, browser, login_link, open_link, sign_in
from tests.conftest import make_tenant

HOSTILE_JSON = {
    "deep": "[" * 1000 + "]" * 1000,
    "huge integer": '{"n": ' + "9" * 4301 + "}",
    "NaN": '{"n": NaN}',
    "Infinity": '{"n": Infinity}',
    "1e999": '{"n": 1e999}',
    "lone surrogate": '{"s": "\\ud800"}',
}


@pytest.fixture
def store_kind() -> str:
    return "sqlite"


# --------------------------------------------------------------------------- 2: JSON limits


@pytest.mark.parametrize("text", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
async def test_console_forms_use_the_apis_json_limits(client, tenant, create_webhook, text):
    webhook = await create_webhook()
    base = f"/console/webhooks/{webhook['id']}"
    csrf = await sign_in(client, tenant.headers)
    fields = {"csrf": csrf, "url": webhook["url"], "events": "user.created"}
    edit = await client.post(f"{base}/edit", data=fields | {"filter": text})
    assert edit.status_code == 422 and "filter is not" in edit.text, edit.text[:300]
    created = await client.post("/console/webhooks", data=fields | {"filter": text})
    assert created.status_code == 422
    trial = {"csrf": csrf, "type": "user.created"}
    for form in ({"data": text}, {"data": "{}", "filter": text}):
        tried = await client.post(f"{base}/filter-test", data=trial | form)
        assert tried.status_code == 422, tried.text[:300]
    # Nothing was saved: the API reads the webhook and its list as before.
    for url in (f"/api/v1/webhooks/{webhook['id']}", "/api/v1/webhooks"):
        assert (await client.get(url, headers=tenant.headers)).status_code == 200


@pytest.mark.parametrize("text", ['{"expires_in": NaN}', "[" * 1000, '{"expires_in": 1e999}'])
async def test_the_sign_in_link_endpoint_reads_json_with_the_same_limits(client, tenant, text):
    answer = await client.post(
        "/api/v1/console/sessions",
        content=text,
        headers=tenant.headers | {"Content-Type": "application/json"},
    )
    assert_error(answer, 400, "bad_request")


# --------------------------------------------------------------------------- 3: revocation


async def test_revoking_a_token_ends_its_console_links_and_sessions(client, tenant, sessions):
    csrf = await sign_in(client, tenant.headers)
    unused = await login_link(client, tenant.headers)
    async with browser(client) as other:
        shown = await other.get(unused["url"])  # opened before the revocation, not confirmed
        assert shown.status_code == 200
        async with sessions.begin() as session:
            await revoke_token(session, await token_id_of(sessions, tenant))
        # The open session ends at once: no page, no form.
        assert (await client.get("/console")).status_code == 401
        form = {"csrf": csrf, "url": "https://example.com/x", "events": "user.created"}
        assert (await client.post("/console/webhooks", data=form)).status_code == 401
        # The link minted before does not sign in, shown or confirmed.
        assert (await other.get(unused["url"])).status_code == 401
        confirmed = await other.post(unused["url"], data={"csrf": CSRF.search(shown.text).group(1)})
        assert confirmed.status_code == 401 and "hookline_console" not in other.cookies


async def test_another_tokens_revocation_leaves_a_session_open(client, tenant, settings, sessions):
    await sign_in(client, tenant.headers)
    spare = await make_tenant(settings, "acme")  # a second token of the same tenant
    async with sessions.begin() as session:
        await revoke_token(session, await token_id_of(sessions, spare))
    assert (await client.get("/console")).status_code == 200


# --------------------------------------------------------------------------- 4: the codec


async def sealed_input(key: str, tenant_id: str) -> dict:
    data = f'{{"tenant_id":"{tenant_id}","data":{{"ssn":"078-05-1120"}}}}'.encode()
    [sealed] = await EncryptionCodec([key]).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=data)]
    )
    return json_format.MessageToDict(Payloads(payloads=[sealed]))


async def test_the_codec_decodes_only_the_callers_tenant(api, tenant, other_tenant, settings):
    key = generate_key()
    theirs = await sealed_input(key, other_tenant.tenant_id)
    reader = await make_tenant(settings, "acme", scopes=["events:read", "webhooks:read"])
    async with api(encryption_key=key) as client:
        # Another tenant's token, with codec:decode: the payload comes back still sealed.
        answer = await client.post("/codec/decode", json=theirs, headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        assert answer.json() == theirs
        assert b"078-05-1120" not in base64.b64decode(answer.json()["payloads"][0]["data"])
        # Its own tenant's token reads it.
        own = await client.post("/codec/decode", json=theirs, headers=other_tenant.headers)
        assert b"078-05-1120" in base64.b64decode(own.json()["payloads"][0]["data"])
        # A token without the codec scopes neither decodes nor encodes.
        for path in ("/codec/decode", "/codec/encode"):
            refused = await client.post(path, json=theirs, headers=reader.headers)
            assert_error(refused, 403, "forbidden")
        # No token, a forged Origin of the dev UI: nothing (no trust by header).
        forged = await client.post(
            "/codec/decode", json=theirs, headers={"Origin": "http://127.0.0.1:8233"}
        )
        assert_error(forged, 401, "unauthorized")


# --------------------------------------------------------------------------- 5: extreme values


@pytest.mark.parametrize(
    "query",
    [
        {"since": "0001-01-01T00:00:00+14:00"},
        {"until": "9999-12-31T23:59:59-05:00"},
    ],
)
async def test_instants_outside_the_range_are_a_400(client, tenant, query):
    answer = await client.get("/api/v1/events", params=query, headers=tenant.headers)
    assert_error(answer, 400, "bad_request")
    bulk = await client.post("/api/v1/events/redeliver", json=query, headers=tenant.headers)
    assert_error(bulk, 422)


@pytest.mark.parametrize(
    "query",
    [
        "before=99999999999999999999999999.evt_x",
        "before=%C2%B2%C2%B3.evt_x",
        "after=99999999999999999999999999.evt_x",
        "since=0001-01-01T00:00:00%2B14:00",
        "until=9999-12-31T23:59:59-05:00",
    ],
)
async def test_console_event_pages_answer_extreme_values_with_a_4xx_page(client, tenant, query):
    await sign_in(client, tenant.headers)
    answer = await client.get(f"/console/events?{query}")
    assert answer.status_code == 400 and "text/html" in answer.headers["content-type"]
    assert "Ignored" in answer.text


async def test_a_superscript_count_is_no_count(client, tenant, sessions, create_webhook):
    from tests.api.test_console import add_event

    webhook = await create_webhook()
    event_id = await add_event(sessions, tenant.tenant_id, webhook["id"])
    await sign_in(client, tenant.headers)
    for count in ("%C2%B2", "9" * 5000):
        answer = await client.get(f"/console/events/{event_id}?notice=redelivered&count={count}")
        assert answer.status_code == 200 and "0 deliveries scheduled" in answer.text


@pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
async def test_nul_in_text_is_a_4xx_on_either_store(client, tenant, create_webhook):
    webhook = await create_webhook()
    h = tenant.headers
    # In a JSON body: the body's limits (core/jsonlimits.py), whatever the field.
    body = {"url": webhook["url"], "events": ["user.created"], "description": "a\u0000b"}
    assert_error(await client.post("/api/v1/webhooks", json=body, headers=h), 400)
    assert_error(await client.put(f"/api/v1/webhooks/{webhook['id']}", json=body, headers=h), 400)
    for path in ("/api/v1/webhooks/wh_%00", "/api/v1/events?type=%00", "/api/v1/events/e%00"):
        assert_error(await client.get(path, headers=h), 400, "bad_request")
    bulk = await client.post("/api/v1/events/redeliver", json={"type": "\u0000"}, headers=h)
    assert_error(bulk, 400)
    csrf = await sign_in(client, h)
    form = {"csrf": csrf, "url": webhook["url"], "events": "user.created", "description": "a\0"}
    edited = await client.post(f"/console/webhooks/{webhook['id']}/edit", data=form)
    assert edited.status_code == 422 and "NUL" in edited.text
    page = await client.get("/console/webhooks/wh_%00")
    assert page.status_code == 400 and "text/html" in page.headers["content-type"]


# --------------------------------------------------------------------------- 7: sign-in links


async def test_a_sign_in_link_is_built_on_the_public_url_not_the_host_header(api, tenant):
    async with api(public_url="https://hooks.example.com/") as client:
        answer = await client.post(
            "/api/v1/console/sessions", headers=tenant.headers | {"Host": "evil.example"}
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["url"].startswith("https://hooks.example.com/console/login/")


async def test_a_link_asks_before_it_replaces_another_tenants_session(client, tenant, settings):
    await sign_in(client, tenant.headers)
    stranger = await make_tenant(settings, "mallory")
    link = await login_link(client, stranger.headers)
    shown = await client.get(link["url"])
    assert shown.status_code == 200
    assert "signed in to <strong>acme</strong>" in shown.text and "mallory" in shown.text
    assert "Tenant <strong>acme</strong>" in (await client.get("/console")).text  # still acme
    # A cross-site POST carries no SameSite=Strict cookie, so no form token matches.
    async with browser(client) as attacker_page:
        forged = await attacker_page.post(link["url"], data={"csrf": "0" * 64})
        assert forged.status_code == 403
    wrong = await client.post(link["url"], data={"csrf": "0" * 64})
    assert wrong.status_code == 403
    assert "Tenant <strong>acme</strong>" in (await client.get("/console")).text
    # Confirmed: the new tenant's session replaces (and ends) the old one.
    answer = await client.post(link["url"], data={"csrf": CSRF.search(shown.text).group(1)})
    assert answer.status_code == 303
    assert "Tenant <strong>mallory</strong>" in (await client.get("/console")).text
    assert (
        await open_link(client, (await login_link(client, tenant.headers))["url"])
    ).status_code == 303
