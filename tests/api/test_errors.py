"""One error envelope everywhere, and the request size limit (413)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import create_async_engine as create_engine_async

from hookline.store.engine import session_maker
from tests.api.conftest import WEBHOOK_URL, assert_error, running


async def test_body_over_the_limit_is_413(api, tenant) -> None:
    async with api(max_request_bytes=2048) as client:
        body = {"url": WEBHOOK_URL, "events": ["user.created"], "description": "x" * 3000}
        response = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
        error = assert_error(response, 413, "payload_too_large")
        assert "2048" in error["message"]
        listed = (await client.get("/api/v1/webhooks", headers=tenant.headers)).json()
        assert listed["meta"]["total"] == 0

        small = {"url": WEBHOOK_URL, "events": ["user.created"], "description": "x" * 100}
        assert (
            await client.post("/api/v1/webhooks", json=small, headers=tenant.headers)
        ).status_code == 201


async def test_chunked_body_over_the_limit_is_413(api, tenant) -> None:
    async with api(max_request_bytes=2048) as client:

        async def chunks():
            yield b'{"url": "' + WEBHOOK_URL.encode() + b'", "description": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'", "events": ["user.created"]}'

        # No Content-Length (chunked): counted as it arrives.
        headers = {**tenant.headers, "Content-Type": "application/json"}
        streamed = await client.post("/api/v1/webhooks", content=chunks(), headers=headers)
    assert_error(streamed, 413, "payload_too_large")


async def test_413_comes_before_authentication(api) -> None:
    async with api(max_request_bytes=100) as client:
        response = await client.post("/api/v1/webhooks", content=b"x" * 1000)
    assert_error(response, 413)


async def test_unknown_route_and_method_use_the_envelope(client, tenant) -> None:
    assert_error(await client.get("/api/v1/nothing-here", headers=tenant.headers), 404)
    assert_error(await client.patch("/api/v1/webhooks", headers=tenant.headers), 405)


async def test_a_trailing_slash_is_a_404_naming_the_path_never_a_redirect(client, tenant) -> None:
    """No redirect: Starlette's would send the client to a Location built from the Host
    header (any host the client named), and drop a POST's body on the way for some clients."""
    headers = {**tenant.headers, "Host": "attacker.example"}
    for method, path in (
        ("GET", "/api/v1/webhooks/"),
        ("POST", "/api/v1/events/"),
        ("GET", "/api/v1/events/evt_x//"),
        ("GET", "/healthz/"),
    ):
        response = await client.request(method, path, headers=headers, json={})
        error = assert_error(response, 404)
        assert "location" not in response.headers
        assert error["details"] == {"did_you_mean": path.rstrip("/")}
        assert path.rstrip("/") in error["message"]
    unknown = assert_error(await client.get("/api/v1/nothing/", headers=tenant.headers), 404)
    assert unknown["details"] is None
    listed = await client.get("/api/v1/webhooks", headers=tenant.headers)
    assert listed.status_code == 200


async def test_a_query_parameter_a_route_does_not_take_is_a_400_before_anything_is_done(
    client, tenant, create_webhook
) -> None:
    """On writes too: `POST /events/redeliver?webhook_id=…` would otherwise start a job over
    every failed delivery of the tenant, the filter never read."""
    webhook = await create_webhook()
    path = f"/api/v1/webhooks/{webhook['id']}"
    refused = [
        ("POST", "/api/v1/events/redeliver?webhook_id=" + webhook["id"], {}),
        ("POST", f"{path}/replay?dry_run=true", {"since": "2026-01-01T00:00:00Z"}),
        ("POST", "/api/v1/webhooks?x=1", {"url": WEBHOOK_URL, "events": ["user.created"]}),
        ("DELETE", f"{path}?force=true", None),
        ("PUT", f"{path}?status=inactive", {"description": "changed"}),
        ("GET", "/api/v1/event-types/user.created?foo=1", None),
        ("GET", f"{path}/stats?page=2", None),  # stats is not paged
    ]
    for method, url, body in refused:
        response = await client.request(method, url, json=body, headers=tenant.headers)
        error = assert_error(response, 400)
        assert error["details"]["unknown"] == [url.split("?")[1].split("=")[0]], url
    read = (await client.get(path, headers=tenant.headers)).json()["data"]
    assert (read["status"], read["description"]) == (webhook["status"], webhook["description"])
    listed = await client.get("/api/v1/webhooks?limit=5", headers=tenant.headers)
    assert listed.json()["meta"]["total"] == 1
    stats = await client.get(f"{path}/stats?window=1h", headers=tenant.headers)
    assert stats.status_code == 200, stats.text
    searched = await client.get("/api/v1/events?data.user.id=1&limit=5", headers=tenant.headers)
    assert searched.status_code == 200, searched.text


async def test_validation_details_point_at_the_field(client, tenant) -> None:
    response = await client.post(
        "/api/v1/webhooks",
        json={"url": WEBHOOK_URL, "events": ["user.created"], "retry_policy": {"backoff": 0}},
        headers=tenant.headers,
    )
    error = assert_error(response, 422)
    assert error["details"][0]["loc"] == ["body", "retry_policy", "backoff"]


async def test_query_errors_are_400_with_the_parameter(client, tenant) -> None:
    response = await client.get("/api/v1/webhooks?limit=101", headers=tenant.headers)
    error = assert_error(response, 400, "bad_request")
    assert error["details"][0]["loc"] == ["query", "limit"]


async def test_body_that_is_not_an_object_is_422(client, tenant) -> None:
    response = await client.post("/api/v1/webhooks", json=[1, 2], headers=tenant.headers)
    assert_error(response, 422)


async def test_malformed_json_is_400(client, tenant) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    response = await client.post("/api/v1/webhooks", content=b"{'url': 1}", headers=headers)
    error = assert_error(response, 400, "bad_request")
    assert "JSON" in error["message"]


async def test_a_missing_body_or_one_not_sent_as_json_is_400_json_syntax(client, tenant) -> None:
    """Said as such, not as a 422 about the body's fields: the body was never read as JSON."""
    event = b'{"type": "user.created", "data": {}}'
    cases = [
        ("application/json", b"", "needs a JSON body"),
        ("text/plain", event, "this one had text/plain"),
        ("application/x-www-form-urlencoded", event, "Content-Type: application/json"),
        (None, event, "this one had none"),
    ]
    for content_type, body, said in cases:
        headers = dict(tenant.headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        for path in ("/api/v1/events", "/api/v1/webhooks"):
            response = await client.post(path, content=body, headers=headers)
            error = assert_error(response, 400, "bad_request")
            assert said in error["message"], (content_type, path, error)
            assert error["details"]["limit"] == "json_syntax"
    # A route whose body is optional takes none; JSON of the wrong shape stays a 422.
    response = await client.post(
        "/api/v1/events/evt_missing/redeliver", content=b"", headers=tenant.headers
    )
    assert_error(response, 404)
    as_json = {**tenant.headers, "Content-Type": "application/json"}
    response = await client.post("/api/v1/webhooks", content=b"null", headers=as_json)
    assert_error(response, 422)
    response = await client.post(
        "/api/v1/events/evt_missing/redeliver", content=b"[]", headers=as_json
    )
    assert_error(response, 422)


async def test_a_redelivery_names_at_most_a_chunk_of_webhooks(client, tenant) -> None:
    """Named webhooks are redelivered as one chunk of the event: at most 500 of them (to
    redeliver every failed one of a larger event, name none)."""
    named = {"webhook_ids": [f"wh_{n}" for n in range(501)]}
    response = await client.post(
        "/api/v1/events/evt_missing/redeliver", json=named, headers=tenant.headers
    )
    error = assert_error(response, 422)
    assert error["details"][0]["loc"] == ["body", "webhook_ids"]
    named["webhook_ids"] = named["webhook_ids"][:500]
    response = await client.post(
        "/api/v1/events/evt_missing/redeliver", json=named, headers=tenant.headers
    )
    assert_error(response, 404)
    # None named is not "every failed one" (that is the field left out): refused.
    response = await client.post(
        "/api/v1/events/evt_missing/redeliver", json={"webhook_ids": []}, headers=tenant.headers
    )
    assert assert_error(response, 422)["details"][0]["loc"] == ["body", "webhook_ids"]


async def test_a_store_whose_connections_are_all_busy_is_a_503_to_retry(settings, tenant) -> None:
    """A burst that holds every connection of the process's pool past its timeout: a 503 with
    Retry-After, never a 500 (an internal error) for what is load."""
    async with running(settings) as client:
        app = client.app  # type: ignore[attr-defined]
        small = create_engine_async(
            settings.resolved_database_url, pool_size=1, max_overflow=0, pool_timeout=0.3
        )
        app.state.sessions = session_maker(small)
        try:
            async with small.connect():  # the pool's one connection, held
                busy = await client.get("/api/v1/webhooks", headers=tenant.headers)
            error = assert_error(busy, 503)
            assert busy.headers["retry-after"] == "5" and "busy" in error["message"]
            freed = await client.get("/api/v1/webhooks", headers=tenant.headers)
            assert freed.status_code == 200, freed.text
        finally:
            await small.dispose()
