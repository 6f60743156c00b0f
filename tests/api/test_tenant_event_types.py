"""A tenant's own event types: create, read, update, archive; schemas checked at save and
applied at publish (422 with JSON pointers); subscriptions to them; the test send's example."""

from __future__ import annotations

import asyncio

import pytest

from hookline.api.services import event_types as service
from hookline.core import event_schemas
from tests.api.conftest import assert_error
from tests.conftest import make_tenant

ORDER_SCHEMA = {
    "type": "object",
    "required": ["id", "amount"],
    "properties": {
        "id": {"type": "string", "pattern": "^ord_"},
        "amount": {"type": "integer", "minimum": 0},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},
    },
    "$defs": {"line": {"type": "object", "required": ["sku"]}},
}
ORDER_EXAMPLE = {"id": "ord_1", "amount": 4200}
DOUBLING = {
    "d0": {"type": "string"},
    **{
        f"d{n}": {"anyOf": [{"$ref": f"#/$defs/d{n - 1}"}, {"$ref": f"#/$defs/d{n - 1}"}]}
        for n in range(1, 18)
    },
}


async def create_type(client, tenant, **body):
    body.setdefault("name", "order.created")
    body.setdefault("description", "An order was placed")
    answer = await client.post("/api/v1/event-types", json=body, headers=tenant.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


async def publish(client, tenant, type_, data):
    return await client.post(
        "/api/v1/events", headers=tenant.headers, json={"type": type_, "data": data}
    )


async def test_create_read_list_update(client, tenant) -> None:
    created = await create_type(client, tenant, schema=ORDER_SCHEMA, example=ORDER_EXAMPLE)
    assert created["name"] == "order.created"
    assert created["category"] == "order"
    assert created["source"] == "tenant"
    assert created["schema"] == ORDER_SCHEMA
    assert created["example"] == ORDER_EXAMPLE
    assert created["version"] == 1 and created["archived"] is False

    one = await client.get("/api/v1/event-types/order.created", headers=tenant.headers)
    assert one.json()["data"] == created
    listed = (await client.get("/api/v1/event-types?category=order", headers=tenant.headers)).json()
    assert [t["name"] for t in listed["data"]] == ["order.created"]
    every = (await client.get("/api/v1/event-types?limit=100", headers=tenant.headers)).json()
    names = [t["name"] for t in every["data"]]
    assert "order.created" in names and "user.created" in names and names == sorted(names)

    changed = await client.put(
        "/api/v1/event-types/order.created",
        json={"description": "Placed", "example": None},
        headers=tenant.headers,
    )
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert (data["description"], data["example"], data["schema"]) == ("Placed", None, ORDER_SCHEMA)
    assert data["version"] == 2


async def test_types_are_per_tenant(client, tenant, settings) -> None:
    await create_type(client, tenant)
    other = await make_tenant(settings, "other")
    missing = await client.get("/api/v1/event-types/order.created", headers=other.headers)
    assert_error(missing, 404)
    refused = await publish(client, other, "order.created", {})
    assert_error(refused, 400, "unknown_event_type")
    # The other tenant may define the same name for itself.
    await create_type(client, other)


async def test_a_misspelt_type_suggests_the_tenants_own(
    client, tenant, settings, create_webhook
) -> None:
    """Publishing, test-sending or naming a pattern of a misspelt type suggests the tenant's
    own types beside the built-in ones, never another tenant's."""
    await create_type(client, tenant, name="invoice.finalized")
    other = await make_tenant(settings, "other")
    await create_type(client, other, name="invoice.finalised")

    refused = assert_error(
        await publish(client, tenant, "invoice.finalzed", {}), 400, "unknown_event_type"
    )
    assert refused["details"]["did_you_mean"] == ["invoice.finalized"]
    assert "'invoice.finalized'" in refused["message"]

    created = await create_webhook(events=["invoice.finalized"])
    tried = await client.post(
        f"/api/v1/webhooks/{created['id']}/test",
        json={"event": "invoice.finalzed"},
        headers=tenant.headers,
    )
    assert assert_error(tried, 400, "unknown_event_type")["details"]["did_you_mean"] == [
        "invoice.finalized"
    ]
    pattern = assert_error(
        await publish(client, tenant, "invoice.*", {}), 400, "unknown_event_type"
    )
    assert pattern["details"]["did_you_mean"] == ["invoice.finalized"]


@pytest.mark.parametrize(
    ("schema", "pointer"),
    [
        ({"type": "nope"}, "/type"),
        ({"properties": {"id": {"minLength": -1}}}, "/properties/id/minLength"),
        ({"properties": {"id": {"pattern": "(a)\\1"}}}, "/properties/id/pattern"),
        ({"$ref": "https://example.com/schema.json"}, "/$ref"),
        ({"$ref": "#/$defs/missing"}, "/$ref"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "/$schema"),
        # References that loop without going into the data: checking would never end.
        ({"$ref": "#"}, ""),
        ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}, "/$defs/b"),
        ({"$dynamicAnchor": "m", "$dynamicRef": "#m"}, ""),
        ({"anyOf": [{"type": "string"}, {"not": {"$ref": "#"}}]}, "/anyOf/1/not"),
        # References to values that are not schemas.
        ({"description": "abc", "$ref": "#/description/0"}, "/$ref"),
        ({"$defs": {"t": True}, "$ref": "#/$defs/t/x"}, "/$ref"),
        ({"required": ["a"], "$ref": "#/required/0"}, "/$ref"),
        # anyOf over two references to the level below, 17 levels: 2**18 checks per value.
        ({"$defs": DOUBLING, "properties": {"x": {"$ref": "#/$defs/d17"}}}, "/$defs/d8"),
    ],
)
async def test_a_schema_that_cannot_compile_is_422(client, tenant, schema, pointer) -> None:
    answer = await client.post(
        "/api/v1/event-types",
        json={"name": "order.created", "schema": schema},
        headers=tenant.headers,
    )
    error = assert_error(answer, 422, "invalid_schema")
    assert error["details"]["pointer"] == pointer
    assert error["details"]["field"] == "schema"


async def test_a_description_with_nul_is_400(client, tenant) -> None:
    """PostgreSQL's text cannot hold NUL: refused at the request (the body's limits, as for
    any JSON body), on both stores alike."""
    body = {"name": "order.created", "description": "a\u0000b"}
    answer = await client.post("/api/v1/event-types", json=body, headers=tenant.headers)
    assert assert_error(answer, 400)["details"]["limit"] == "no_nul"
    await create_type(client, tenant)
    answer = await client.put(
        "/api/v1/event-types/order.created", json={"description": "\u0000"}, headers=tenant.headers
    )
    assert assert_error(answer, 400)["details"]["path"] == "description"


async def test_an_example_the_schema_refuses_is_422(client, tenant) -> None:
    answer = await client.post(
        "/api/v1/event-types",
        json={"name": "order.created", "schema": ORDER_SCHEMA, "example": {"id": "x"}},
        headers=tenant.headers,
    )
    error = assert_error(answer, 422, "invalid_example")
    assert {e["pointer"] for e in error["details"]["errors"]} == {"/example", "/example/id"}


@pytest.mark.parametrize("name", ["order.*", "order..created", ".order", "order created", ""])
async def test_bad_names_are_422(client, tenant, name) -> None:
    answer = await client.post("/api/v1/event-types", json={"name": name}, headers=tenant.headers)
    assert_error(answer, 422)


async def test_builtin_and_duplicate_names_are_409(client, tenant) -> None:
    builtin = await client.post(
        "/api/v1/event-types", json={"name": "user.created"}, headers=tenant.headers
    )
    assert_error(builtin, 409, "builtin_event_type")
    assert_error(
        await client.delete("/api/v1/event-types/user.created", headers=tenant.headers),
        409,
        "builtin_event_type",
    )
    await create_type(client, tenant)
    again = await client.post(
        "/api/v1/event-types", json={"name": "order.created"}, headers=tenant.headers
    )
    assert_error(again, 409, "event_type_exists")
    # A name apart only in case from a built-in type or the tenant's own: refused too.
    for name, existing in (("User.Created", "user.created"), ("ORDER.CREATED", "order.created")):
        lookalike = await client.post(
            "/api/v1/event-types", json={"name": name}, headers=tenant.headers
        )
        assert assert_error(lookalike, 409, "event_type_exists")["details"] == {
            "existing": existing
        }
    assert (
        await client.post(
            "/api/v1/event-types", json={"name": "order.created_v2"}, headers=tenant.headers
        )
    ).status_code == 201


async def test_writing_needs_webhooks_write(client, settings) -> None:
    reader = await make_tenant(settings, "reader", scopes=["webhooks:read"])
    answer = await client.post(
        "/api/v1/event-types", json={"name": "order.created"}, headers=reader.headers
    )
    assert_error(answer, 403)
    assert (await client.get("/api/v1/event-types", headers=reader.headers)).status_code == 200


async def test_publish_validates_data_with_json_pointers(client, tenant) -> None:
    await create_type(client, tenant, schema=ORDER_SCHEMA)
    bad = {"id": "x", "amount": -1, "lines": [{"sku": "a"}, {}]}
    error = assert_error(
        await publish(client, tenant, "order.created", bad), 422, "invalid_event_data"
    )
    found = {(e["pointer"], e["keyword"]) for e in error["details"]["errors"]}
    assert found == {
        ("/data/id", "pattern"),
        ("/data/amount", "minimum"),
        ("/data/lines/1", "required"),
    }
    assert error["details"]["type"] == "order.created"
    assert error["details"]["truncated"] is False
    for item in error["details"]["errors"]:
        assert item["schema_pointer"].startswith("/")
    # Values are written as the client sent them (JSON), not as Python prints them.
    assert [e["message"] for e in error["details"]["errors"]] == [
        "-1 is less than the minimum of 0",
        '"x" does not match "^ord_"',
        '"sku" is required',
    ]
    nulls = assert_error(
        await publish(client, tenant, "order.created", {"id": None, "amount": True}), 422
    )
    assert [e["message"] for e in nulls["details"]["errors"]] == [
        "expected integer, got boolean",
        "expected string, got null",
    ]

    # In a batch, the index of the refused event comes with the errors.
    batch = await client.post(
        "/api/v1/events/batch",
        headers=tenant.headers,
        json={
            "events": [
                {"type": "order.created", "data": ORDER_EXAMPLE},
                {"type": "order.created", "data": {"id": "ord_2"}},
            ]
        },
    )
    error = assert_error(batch, 422, "invalid_event_data")
    assert error["details"]["index"] == 1
    assert error["details"]["errors"][0]["pointer"] == "/data"

    # Valid data passes the check (then finds no Temporal here: 503, not 422).
    assert (await publish(client, tenant, "order.created", ORDER_EXAMPLE)).status_code == 503


async def test_a_schema_whose_work_multiplies_with_the_data_is_refused_at_publish(
    client, tenant
) -> None:
    """Two applicators reach each `x` below the root: the work doubles at each level of the
    data, which no check at save can bound. The publish's check stops at its step budget with
    a 422 instead of holding the API (2**40 checks for this data)."""
    twice = {"properties": {"x": {"$ref": "#"}}, "patternProperties": {"^x$": {"$ref": "#"}}}
    await create_type(client, tenant, schema=twice)
    data: dict = {}
    inner = data
    for _ in range(40):
        inner["x"] = {}
        inner = inner["x"]
    error = assert_error(
        await publish(client, tenant, "order.created", data), 422, "invalid_event_data"
    )
    [item] = error["details"]["errors"]
    assert (item["pointer"], item["keyword"]) == ("/data", "$schema")
    assert "simplify the schema" in item["message"]
    # The same schema over shallow data is checked as usual.
    assert (await publish(client, tenant, "order.created", {"x": {"x": {}}})).status_code == 503


async def test_a_new_schema_applies_at_once(client, tenant) -> None:
    await create_type(client, tenant, schema={"type": "object", "required": ["a"]})
    assert (await publish(client, tenant, "order.created", {"b": 1})).status_code == 422
    await client.put(
        "/api/v1/event-types/order.created",
        json={"schema": {"type": "object", "required": ["b"]}},
        headers=tenant.headers,
    )
    assert (await publish(client, tenant, "order.created", {"b": 1})).status_code == 503
    await client.put(
        "/api/v1/event-types/order.created", json={"schema": None}, headers=tenant.headers
    )
    assert (await publish(client, tenant, "order.created", {})).status_code == 503


async def test_validators_are_compiled_once_per_version(client, tenant, monkeypatch) -> None:
    await create_type(client, tenant, schema=ORDER_SCHEMA)
    compiled = []
    real = service.event_schemas.compile_schema
    monkeypatch.setattr(
        service.event_schemas, "compile_schema", lambda s: compiled.append(1) or real(s)
    )
    for _ in range(5):
        await publish(client, tenant, "order.created", ORDER_EXAMPLE)
    assert len(compiled) == 1
    await client.put(
        "/api/v1/event-types/order.created", json={"description": "v2"}, headers=tenant.headers
    )
    for _ in range(3):
        await publish(client, tenant, "order.created", ORDER_EXAMPLE)
    assert len(compiled) == 3  # the update's own check, then once for version 2


async def test_regex_in_a_schema_runs_on_re2(client, tenant) -> None:
    # Catastrophic for a backtracking engine, linear on RE2.
    await create_type(
        client,
        tenant,
        schema={"properties": {"s": {"pattern": "^(a+)+$"}}, "additionalProperties": False},
    )
    answer = await publish(client, tenant, "order.created", {"s": "a" * 5000 + "!"})
    error = assert_error(answer, 422, "invalid_event_data")
    assert error["details"]["errors"][0]["pointer"] == "/data/s"


async def test_archive_hides_it_from_subscriptions_and_publishes(
    client, tenant, create_webhook
) -> None:
    await create_type(client, tenant)
    subscribed = await create_webhook(events=["order.created"])
    archived = await client.delete("/api/v1/event-types/order.created", headers=tenant.headers)
    assert archived.status_code == 200, archived.text

    assert_error(await publish(client, tenant, "order.created", {}), 400, "archived_event_type")
    new = await client.post(
        "/api/v1/webhooks",
        json={"url": "https://example.com/h", "events": ["order.created"]},
        headers=tenant.headers,
    )
    refused = assert_error(new, 400, "archived_event_type")  # said so, not "unknown"
    assert refused["details"]["archived"] == ["order.created"]
    # The webhooks that keep it can still be found by it.
    by_type = await client.get("/api/v1/webhooks?event=order.created", headers=tenant.headers)
    assert [w["id"] for w in by_type.json()["data"]] == [subscribed["id"]], by_type.text
    listed = (await client.get("/api/v1/event-types?category=order", headers=tenant.headers)).json()
    assert listed["data"] == []
    with_archived = (
        await client.get(
            "/api/v1/event-types?category=order&include_archived=true", headers=tenant.headers
        )
    ).json()
    assert [t["archived"] for t in with_archived["data"]] == [True]
    one = await client.get("/api/v1/event-types/order.created", headers=tenant.headers)
    assert one.json()["data"]["archived"] is True

    # A webhook that has it keeps it, and can be edited without dropping it.
    edit = await client.put(
        f"/api/v1/webhooks/{subscribed['id']}",
        json={"events": ["order.created", "user.created"], "description": "kept"},
        headers=tenant.headers,
    )
    assert edit.status_code == 200, edit.text

    # Brought back: publishes pass the checks again.
    back = await client.put(
        "/api/v1/event-types/order.created", json={"archived": False}, headers=tenant.headers
    )
    assert back.json()["data"]["archived"] is False
    assert (await publish(client, tenant, "order.created", {})).status_code == 503


async def test_wildcards_need_a_type_that_exists(client, tenant) -> None:
    body = {"url": "https://example.com/h", "events": ["order.*"]}
    early = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
    error = assert_error(early, 400, "unknown_event_type")
    assert error["details"]["unknown"] == ["order.*"]
    await create_type(client, tenant)
    later = await client.post("/api/v1/webhooks", json=body, headers=tenant.headers)
    assert later.status_code == 201, later.text
    listed = await client.get("/api/v1/webhooks?event=order.created", headers=tenant.headers)
    assert [w["id"] for w in listed.json()["data"]] == [later.json()["data"]["id"]]


async def test_test_send_sends_the_example(client, tenant, create_webhook, receiver) -> None:
    await create_type(client, tenant, schema=ORDER_SCHEMA, example=ORDER_EXAMPLE)
    created = await create_webhook(url=receiver.url("/hook"), events=["order.created"])
    answer = await client.post(
        f"/api/v1/webhooks/{created['id']}/test",
        json={"event": "order.created"},
        headers=tenant.headers,
    )
    assert answer.json()["success"] is True, answer.text
    assert receiver.json()["type"] == "order.created"
    assert receiver.json()["data"] == ORDER_EXAMPLE

    bad = await client.post(
        f"/api/v1/webhooks/{created['id']}/test",
        json={"event": "order.created", "data": {"id": "x", "amount": 1}},
        headers=tenant.headers,
    )
    assert assert_error(bad, 422, "invalid_event_data")["details"]["errors"][0]["pointer"] == (
        "/data/id"
    )
    assert len(receiver.requests) == 1


async def test_a_test_send_without_example_says_how_to_give_data(
    client, tenant, create_webhook, receiver
) -> None:
    """No example and no data: hookline's generic sample is what failed the schema, and the
    answer says so, not as if the caller's data were wrong."""
    await create_type(client, tenant, name="noex.req", schema={"required": ["order_id"]})
    created = await create_webhook(url=receiver.url("/hook"), events=["noex.req"])
    answer = await client.post(
        f"/api/v1/webhooks/{created['id']}/test", json={"event": "noex.req"}, headers=tenant.headers
    )
    error = assert_error(answer, 422, "invalid_event_data")
    assert "no example" in error["message"] and "send the test's data" in error["message"]
    assert receiver.requests == []


async def test_filter_test_knows_tenant_types(client, tenant, create_webhook) -> None:
    await create_type(client, tenant)
    created = await create_webhook(events=["order.*"])
    answer = await client.post(
        f"/api/v1/webhooks/{created['id']}/filter-test",
        json={"type": "order.created", "data": {}},
        headers=tenant.headers,
    )
    assert answer.json()["data"]["matched"] is True, answer.text


async def test_in_the_openapi_document(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/event-types"])
    assert {"get", "put", "delete"} <= set(spec["paths"]["/api/v1/event-types/{name}"])
    create = spec["components"]["schemas"]["EventTypeCreate"]
    assert {"name", "description", "schema", "example"} <= set(create["properties"])


async def test_the_cap_on_types_holds_for_creates_at_once(client, tenant, monkeypatch) -> None:
    """Creates that race each other (each counted the others' types before they were added)
    do not take a tenant past its cap."""
    monkeypatch.setattr(service, "MAX_TYPES_PER_TENANT", 5)
    answers = await asyncio.gather(
        *(
            client.post("/api/v1/event-types", json={"name": f"order.n{n}"}, headers=tenant.headers)
            for n in range(16)
        )
    )
    assert sorted(a.status_code for a in answers) == [201] * 5 + [409] * 11
    listed = await client.get(
        "/api/v1/event-types?category=order&limit=100", headers=tenant.headers
    )
    assert len([t for t in listed.json()["data"] if t["source"] == "tenant"]) == 5


async def test_concurrent_changes_each_get_their_own_version(client, tenant) -> None:
    """Changes sent at once are written one over the other, never over the same version: each
    answered change has a version of its own, none is lost, and the stored example always
    fits the stored schema, whichever of two conflicting changes came last."""
    await create_type(client, tenant, schema={"type": "object"}, example={"a": 1})
    path = "/api/v1/event-types/order.created"

    async def put(body):
        return await client.put(path, json=body, headers=tenant.headers)

    answers = await asyncio.gather(*(put({"description": f"d{n}"}) for n in range(20)))
    assert {a.status_code for a in answers} <= {200, 409}
    versions = [a.json()["data"]["version"] for a in answers if a.status_code == 200]
    assert len(versions) == len(set(versions)) >= 10, versions
    final = (await client.get(path, headers=tenant.headers)).json()["data"]
    assert final["version"] == 1 + len(versions) == max(versions)
    # Two changes that each fit the stored type, but not together.
    for round in range(5):
        required, example = await asyncio.gather(
            put({"schema": {"type": "object", "required": [f"k{round}"]}}),
            put({"example": {"other": round}}),
        )
        assert {required.status_code, example.status_code} <= {200, 409, 422}
        stored = (await client.get(path, headers=tenant.headers)).json()["data"]
        validator = event_schemas.compile_schema(stored["schema"])
        assert event_schemas.errors(validator, stored["example"], (), 100) == ([], False), stored
        # Back to a schema every example fits, for the next round.
        reset = await put({"schema": {"type": "object"}, "example": {"a": 1}})
        assert reset.status_code == 200, reset.text


async def test_a_change_that_changes_nothing_keeps_the_version(client, tenant) -> None:
    created = await create_type(client, tenant)
    path = "/api/v1/event-types/order.created"
    for body in ({}, {"archived": False}, {"description": created["description"]}):
        same = await client.put(path, json=body, headers=tenant.headers)
        assert same.json()["data"]["version"] == 1, body
    assert (await client.delete(path, headers=tenant.headers)).status_code == 200
    # `null` is no change: it does not bring an archived type back; `false` does.
    kept = await client.put(path, json={"archived": None}, headers=tenant.headers)
    assert kept.json()["data"]["archived"] is True
    back = await client.put(path, json={"archived": False}, headers=tenant.headers)
    assert back.json()["data"]["archived"] is False and back.json()["data"]["version"] == 3


async def test_a_change_python_calls_equal_is_stored_and_versioned(client, tenant) -> None:
    """`1` to `true` (or `0` to `false`) is a change of the JSON value: stored, versioned,
    and answered as GET reads it. Python's `1 == True` once made the UPDATE leave it out."""
    path = "/api/v1/event-types/flag.set"
    schema = {"type": "object", "properties": {"v": {"const": 1}}}
    created = await create_type(client, tenant, name="flag.set", schema=schema, example={"v": 1})
    assert created["version"] == 1
    for version, value, extra in ((2, True, {}), (3, 1, {"description": "one again"})):
        body = {
            "schema": {"type": "object", "properties": {"v": {"const": value}}},
            "example": {"v": value},
            **extra,
        }
        answer = await client.put(path, json=body, headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        read = (await client.get(path, headers=tenant.headers)).json()["data"]
        assert read == answer.json()["data"]
        assert read["version"] == version
        assert read["schema"]["properties"]["v"]["const"] is value
        assert read["example"] == {"v": value} and type(read["example"]["v"]) is type(value)
    published = await client.post(
        "/api/v1/events", json={"type": "flag.set", "data": {"v": True}}, headers=tenant.headers
    )
    assert published.status_code == 422  # the schema now wants 1, not true
    # The same value written again changes nothing, and keeps the version.
    same = await client.put(path, json={"example": {"v": 1}}, headers=tenant.headers)
    assert same.json()["data"]["version"] == 3
