"""What the webhooks API refuses: 400 bad parameters, 404 not yours, 422 bad URL or filter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.conftest import WEBHOOK_URL, assert_error

# --------------------------------------------------------------------------- 400


async def test_unknown_event_type_is_400_with_the_closest_names(client, tenant) -> None:
    response = await client.post(
        "/api/v1/webhooks",
        json={"url": WEBHOOK_URL, "events": ["user.created", "user.loggedin", "nope.*", "usr.*"]},
        headers=tenant.headers,
    )
    error = assert_error(response, 400, "unknown_event_type")
    assert error["details"]["unknown"] == ["user.loggedin", "nope.*", "usr.*"]
    suggested = error["details"]["did_you_mean"]
    assert "user.login" in suggested and "user.*" in suggested  # a wildcard gets a category
    assert "system.alert" not in suggested and len(suggested) <= 6  # not the whole catalog
    assert "did you mean" in error["message"] and "user.login" in error["message"]


async def test_unknown_event_type_on_update_is_400(client, tenant, create_webhook) -> None:
    created = await create_webhook()
    response = await client.put(
        f"/api/v1/webhooks/{created['id']}", json={"events": ["x.y"]}, headers=tenant.headers
    )
    assert_error(response, 400, "unknown_event_type")
    got = await client.get(f"/api/v1/webhooks/{created['id']}", headers=tenant.headers)
    assert got.json()["data"]["events"] == ["user.created"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=101",
        "limit=0",
        "limit=abc",
        "page=0",
        "page=-1",
        "status=paused",
        "event=no.such",
        "event=",
    ],
)
async def test_bad_list_parameters_are_400(client, tenant, query) -> None:
    response = await client.get(f"/api/v1/webhooks?{query}", headers=tenant.headers)
    assert_error(response, 400)


async def test_limit_100_is_allowed(client, tenant) -> None:
    response = await client.get("/api/v1/webhooks?limit=100", headers=tenant.headers)
    assert response.status_code == 200 and response.json()["meta"]["limit"] == 100


async def test_malformed_json_is_400(client, tenant, create_webhook) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await client.post("/api/v1/webhooks", content=b'{"url": ', headers=headers)
    assert_error(response, 400, "bad_request")
    created = await create_webhook()
    response = await client.put(
        f"/api/v1/webhooks/{created['id']}", content=b"{nope}", headers=headers
    )
    assert_error(response, 400, "bad_request")


# --------------------------------------------------------------------------- 422


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "http or https"),
        ("https://user:pass@example.com/hook", "credentials"),
        ("not a url", "spaces"),
        ("https://example.com/hook#frag", "fragment"),
    ],
)
async def test_bad_urls_are_422_saying_why(client, tenant, url, reason) -> None:
    response = await client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["user.created"]}, headers=tenant.headers
    )
    error = assert_error(response, 422, "invalid_url")
    assert error["details"]["field"] == "url"
    assert reason in error["details"]["reason"]


@pytest.mark.parametrize(
    ("allow_private", "url", "reason"),
    [
        (True, "http://2130706433:18900/x", "not a canonical IPv4 address: write it as 127.0.0.1"),
        (True, "http://127.0.0.1./x", "not a canonical IPv4 address: write it as 127.0.0.1"),
        (False, "https://1572395042/hook", "canonical IPv4 address: write it as 93.184.216.34"),
        (True, "http://hoo\u200dks.example.com/x", "is not a valid host name"),
        (False, "https://" + "a" * 64 + ".example.com/x", "is not a valid host name"),
    ],
)
async def test_hosts_no_delivery_could_reach_are_422(
    api, tenant, dns, allow_private, url, reason
) -> None:
    # aiohttp would refuse each of them at every delivery: refused at create, dev rules too.
    async with api(allow_private_urls=allow_private) as client:
        body = {"url": url, "events": ["user.created"]}
        response = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
        error = assert_error(response, 422, "invalid_url")
        assert error["details"]["field"] == "url"
        assert reason in error["details"]["reason"]
        assert reason in error["message"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://10.0.0.5/hook", "private"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://localhost/hook", "local name"),
        ("https://[::1]/hook", "loopback"),
        ("http://example.com/hook", "https"),
    ],
)
async def test_private_targets_are_422_unless_allowed(api, tenant, dns, url, reason) -> None:
    async with api(allow_private_urls=False) as client:
        body = {"url": url, "events": ["user.created"]}
        response = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
        error = assert_error(response, 422, "invalid_url")
        assert reason in error["details"]["reason"]
        ok = await client.post(
            "/api/v1/webhooks",
            json={"url": WEBHOOK_URL, "events": ["user.created"]},
            headers=tenant.headers,
        )
        assert ok.status_code == 201
        update = await client.put(
            f"/api/v1/webhooks/{ok.json()['data']['id']}", json={"url": url}, headers=tenant.headers
        )
        assert_error(update, 422, "invalid_url")


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"data.changed": {"$in": "email"}}, "data.changed.$in"),
        ({"$or": [{"data.a": 1}, {"data.b": {"$regex": "("}}]}, "$or[1].data.b.$regex"),
        ({"changed": "email"}, "changed"),
        ({"data.x": {"$where": "1"}}, "data.x.$where"),
    ],
)
async def test_bad_filters_are_422_with_the_path(client, tenant, create_webhook, spec, path):
    body = {"url": WEBHOOK_URL, "events": ["user.updated"], "filter": spec}
    response = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
    error = assert_error(response, 422, "invalid_filter")
    assert error["details"]["field"] == "filter"
    assert error["details"]["path"] == path
    assert error["details"]["reason"]

    created = await create_webhook()
    update = await client.put(
        f"/api/v1/webhooks/{created['id']}", json={"filter": spec}, headers=tenant.headers
    )
    assert assert_error(update, 422, "invalid_filter")["details"]["path"] == path


@pytest.mark.parametrize(
    "body",
    [
        {"url": WEBHOOK_URL, "events": []},
        {"url": WEBHOOK_URL},
        {"events": ["user.created"]},
        {"url": WEBHOOK_URL, "events": ["user.created"], "description": "x" * 1001},
        {"url": WEBHOOK_URL, "events": "user.created"},
        {"url": WEBHOOK_URL, "events": ["user.created"], "filter": ["not", "an", "object"]},
        {"url": WEBHOOK_URL, "events": ["user.created"], "retry_policy": {"max_attempts": 21}},
        {"url": WEBHOOK_URL, "events": ["user.created"], "retry_policy": {"max_attempts": 0}},
        {"url": WEBHOOK_URL, "events": ["user.created"], "retry_policy": {"backoff": 0.5}},
        {"url": WEBHOOK_URL, "events": ["user.created"], "retry_policy": {"jitter": 1}},
        {
            "url": WEBHOOK_URL,
            "events": ["user.created"],
            "retry_policy": {"initial_interval": 60, "max_interval": 10},
        },
        {"url": WEBHOOK_URL, "events": ["user.created"], "secret": "whsec_mine"},
    ],
)
async def test_invalid_bodies_are_422(client, tenant, body) -> None:
    response = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
    error = assert_error(response, 422, "unprocessable_entity")
    assert error["details"] and all(d["loc"][0] == "body" for d in error["details"])


@pytest.mark.parametrize("hidden", ["\u0007", "\u007f", "\u0085", "\u202e", "\u2067"])
async def test_a_description_shows_what_it_says(client, tenant, create_webhook, hidden) -> None:
    """A control character or a bidirectional override would make a label (in the console,
    a list) read other than it is stored: refused, naming the character; line breaks and
    tabs in a description are fine."""
    body = {"url": WEBHOOK_URL, "events": ["user.created"], "description": f"pay{hidden}ments"}
    refused = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
    error = assert_error(refused, 422)
    assert f"U+{ord(hidden):04X} at character 3" in str(error["details"]), error
    typed = await client.post(
        "/api/v1/event-types",
        json={"name": "order.paid", "description": f"paid{hidden}"},
        headers=tenant.headers,
    )
    assert_error(typed, 422)
    meta = await client.post(
        "/api/v1/webhooks",
        json=body | {"description": "ok", "metadata": {"team": f"a{hidden}"}},
        headers=tenant.headers,
    )
    assert_error(meta, 422)
    created = await create_webhook(description="Payments\n\tEU region")
    assert created["description"] == "Payments\n\tEU region"


async def test_a_retry_policy_longer_than_the_retention_is_422(api, client, tenant) -> None:
    """Past the event's retention its workflow closes: attempts scheduled after that were
    never made, and nothing said so."""
    policy = {"max_attempts": 10, "initial_interval": 15, "backoff": 1, "max_interval": 15}
    async with api(event_retention=timedelta(seconds=60)) as short:
        body = {"url": WEBHOOK_URL, "events": ["user.created"], "retry_policy": policy}
        refused = await short.post("/api/v1/webhooks", headers=tenant.headers, json=body)
        error = assert_error(refused, 422)
        assert "past the 60 s an event is kept" in error["message"], error
        assert error["details"]["retention"] == 60 and error["details"]["seconds"] > 60
        # One attempt (at most 30 s: its connection wait and the 15 s timeout) fits.
        body["retry_policy"] = policy | {"max_attempts": 1, "client_error_max_attempts": 1}
        created = await short.post("/api/v1/webhooks", headers=tenant.headers, json=body)
        assert created.status_code == 201, created.text
        hook = created.json()["data"]["id"]
        update = await short.put(
            f"/api/v1/webhooks/{hook}", headers=tenant.headers, json={"retry_policy": policy}
        )
        assert_error(update, 422)
    # With the default retention (7 days): the longest policy the bounds allow is refused,
    # a long one that fits is not.
    longest = {"max_attempts": 20, "initial_interval": 86400, "max_interval": 86400}
    body = {"url": WEBHOOK_URL, "events": ["user.created"], "retry_policy": longest}
    refused = await client.post("/api/v1/webhooks", headers=tenant.headers, json=body)
    assert "past the 7.0 d an event is kept" in assert_error(refused, 422)["message"]
    body["retry_policy"] = {"max_attempts": 8, "initial_interval": 3600, "max_interval": 86400}
    assert (
        await client.post("/api/v1/webhooks", headers=tenant.headers, json=body)
    ).status_code == 201


async def test_description_of_1000_chars_is_fine(create_webhook) -> None:
    created = await create_webhook(description="x" * 1000)
    assert len(created["description"]) == 1000


@pytest.mark.parametrize(
    "body",
    [
        {"status": "paused"},
        {"status": None},
        {"url": None},
        {"events": []},
        {"events": None},
        {"unknown": 1},
    ],
)
async def test_invalid_updates_are_422(client, tenant, create_webhook, body) -> None:
    created = await create_webhook()
    response = await client.put(
        f"/api/v1/webhooks/{created['id']}", json=body, headers=tenant.headers
    )
    assert_error(response, 422)


# --------------------------------------------------------------------------- 404

ROUTES = [
    ("GET", "", None),
    ("PUT", "", {"description": "mine now"}),
    ("DELETE", "", None),
    ("POST", "/test", {"event": "user.created"}),
    ("POST", "/rotate-secret", None),
    ("POST", "/filter-test", {"event": {"type": "user.created", "data": {}}}),
]


@pytest.mark.parametrize(("method", "suffix", "body"), ROUTES)
async def test_missing_webhook_is_404(client, tenant, method, suffix, body) -> None:
    response = await client.request(
        method, f"/api/v1/webhooks/wh_doesnotexist{suffix}", json=body, headers=tenant.headers
    )
    error = assert_error(response, 404, "not_found")
    assert "wh_doesnotexist" in error["message"]


@pytest.mark.parametrize(("method", "suffix", "body"), ROUTES)
async def test_another_tenants_webhook_is_404_and_untouched(
    client, tenant, other_tenant, create_webhook, receiver, method, suffix, body
) -> None:
    theirs = await create_webhook(url=receiver.url("/theirs"), headers=other_tenant.headers)
    missing = await client.request(
        method, f"/api/v1/webhooks/wh_doesnotexist{suffix}", json=body, headers=tenant.headers
    )
    response = await client.request(
        method, f"/api/v1/webhooks/{theirs['id']}{suffix}", json=body, headers=tenant.headers
    )
    error = assert_error(response, 404, "not_found")
    # Same answer as for an id that does not exist: nothing says it exists elsewhere.
    assert error["message"].replace(theirs["id"], "X") == missing.json()["error"][
        "message"
    ].replace("wh_doesnotexist", "X")
    assert receiver.requests == []
    still = await client.get(f"/api/v1/webhooks/{theirs['id']}", headers=other_tenant.headers)
    assert still.status_code == 200
    assert still.json()["data"]["description"] is None
    assert still.json()["data"]["updated_at"] == theirs["updated_at"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://rebind.example.com/hook", "resolves to 127.0.0.1, a loopback address"),
        ("https://internal.example.com/hook", "resolves to 10.0.0.5, a private address"),
        ("https://metadata.example.com/hook", "link-local"),
        ("https://nowhere.example.com/hook", "does not resolve"),
        ("https://example.com:22/hook", "port 22 is not allowed"),
        ("https://example.com:6667/hook", "Fetch standard"),
    ],
)
async def test_create_and_update_check_dns_and_ports(api, tenant, dns, url, reason) -> None:
    """The rules of a delivery, at create and update: a name is looked up, and every address
    it resolves to must be allowed; ports follow the port policy (core/urls.py)."""
    async with api(allow_private_urls=False) as client:
        response = await client.post(
            "/api/v1/webhooks",
            json={"url": url, "events": ["user.created"]},
            headers=tenant.headers,
        )
        error = assert_error(response, 422, "invalid_url")
        assert reason in error["message"] and reason in error["details"]["reason"]
        ok = await client.post(
            "/api/v1/webhooks",
            json={"url": "https://hooks.example.com:8443/in", "events": ["user.created"]},
            headers=tenant.headers,
        )
        assert ok.status_code == 201, ok.text
        assert "hooks.example.com" in dns.calls
        update = await client.put(
            f"/api/v1/webhooks/{ok.json()['data']['id']}", json={"url": url}, headers=tenant.headers
        )
        assert reason in assert_error(update, 422, "invalid_url")["message"]
