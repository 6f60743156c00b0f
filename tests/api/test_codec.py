"""The Temporal codec server: /codec/encode and /codec/decode."""

from __future__ import annotations

import base64

import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from hookline.infra.crypto import CODEC_ENCODING, EncryptionCodec, generate_key
from tests.api.conftest import assert_error

UI_ORIGIN = "http://127.0.0.1:8233"


@pytest.fixture
def store_kind() -> str:
    return "sqlite"  # the codec does not touch the store beyond authentication


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def plain_payloads(tenant_id: str = "ten_x") -> dict:
    """A workflow input of the tenant (inputs name their tenant), and a null."""
    data = f'{{"tenant_id":"{tenant_id}","email":"jane.secret@example.com"}}'.encode()
    return {
        "payloads": [
            {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(data)},
            {"metadata": {"encoding": b64(b"binary/null")}},
        ]
    }


def as_proto(body: dict) -> Payloads:
    return json_format.ParseDict(body, Payloads())


def headers(tenant) -> dict[str, str]:
    return tenant.headers | {"X-Namespace": "default"}


async def test_encode_then_decode_roundtrips(api, tenant):
    async with api(encryption_key=generate_key()) as client:
        encoded = await client.post(
            "/codec/encode", json=plain_payloads(tenant.tenant_id), headers=headers(tenant)
        )
        assert encoded.status_code == 200, encoded.text
        body = encoded.json()
        assert len(body["payloads"]) == 2
        for payload in body["payloads"]:
            assert base64.b64decode(payload["metadata"]["encoding"]) == CODEC_ENCODING
            assert b"jane.secret" not in base64.b64decode(payload["data"])
        decoded = await client.post("/codec/decode", json=body, headers=headers(tenant))
        assert decoded.status_code == 200, decoded.text
    assert as_proto(decoded.json()) == as_proto(plain_payloads(tenant.tenant_id))


async def test_decodes_what_the_workers_codec_encrypted(api, tenant):
    key = generate_key()
    data = f'{{"tenant_id":"{tenant.tenant_id}","a":"plaintext marker"}}'.encode()
    original = Payload(metadata={"encoding": b"json/plain"}, data=data)
    [sealed] = await EncryptionCodec([key]).encode([original])
    wire = json_format.MessageToDict(Payloads(payloads=[sealed]))
    async with api(encryption_key=key) as client:
        response = await client.post("/codec/decode", json=wire, headers=headers(tenant))
    assert response.status_code == 200, response.text
    [payload] = response.json()["payloads"]
    assert base64.b64decode(payload["data"]) == data
    assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"


async def test_decode_with_a_different_key_is_a_400(api, tenant):
    [sealed] = await EncryptionCodec([generate_key()]).encode([Payload(data=b"x")])
    wire = json_format.MessageToDict(Payloads(payloads=[sealed]))
    async with api(encryption_key=generate_key()) as client:
        response = await client.post("/codec/decode", json=wire, headers=headers(tenant))
    assert_error(response, 400, "bad_request")


async def test_without_a_key_payloads_pass_through(client, tenant):
    for path in ("/codec/encode", "/codec/decode"):
        response = await client.post(path, json=plain_payloads(), headers=headers(tenant))
        assert response.status_code == 200, response.text
        assert as_proto(response.json()) == as_proto(plain_payloads())


async def test_empty_payloads(client, tenant):
    response = await client.post("/codec/decode", json={"payloads": []}, headers=headers(tenant))
    assert response.status_code == 200
    assert response.json() == {"payloads": []}


@pytest.mark.parametrize(
    "payload",
    [
        {"metadata": {}, "data": "%%% not base64 %%%"},
        {"metadata": {}, "data": "@@@"},  # protobuf's parser alone reads it as no bytes
        {"metadata": {"encoding": "!!!"}, "data": "e30="},
        {"metadata": {}, "data": "\x80"},  # not ASCII
    ],
)
async def test_bad_base64_is_a_400(client, tenant, payload):
    body = {"payloads": [payload]}
    response = await client.post("/codec/decode", json=body, headers=headers(tenant))
    assert_error(response, 400, "bad_request")


async def test_unpadded_base64_is_read(client, tenant):
    body = {"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg"}, "data": "e30"}]}
    response = await client.post("/codec/decode", json=body, headers=headers(tenant))
    assert response.status_code == 200, response.text
    assert response.json()["payloads"][0]["data"] == "e30="


@pytest.mark.parametrize("path", ["/codec/encode", "/codec/decode"])
async def test_needs_a_token(client, path):
    response = await client.post(path, json=plain_payloads(), headers={"X-Namespace": "default"})
    assert_error(response, 401, "unauthorized")


async def test_ui_preflight_needs_no_token(client):
    response = await client.options(
        "/codec/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == UI_ORIGIN
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "x-namespace" in allowed and "authorization" in allowed


async def test_preflight_from_an_unknown_origin_is_refused(client):
    response = await client.options(
        "/codec/decode",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_dev_ui_decodes_through_its_secret_path_and_an_origin_proves_nothing(api):
    """`hookline dev` gives the UI /codec/ui/<secret> (HOOKLINE_CODEC_UI_SECRET): the local UI
    has no token. A forged Origin header, which any client can send, opens nothing."""
    secret = "dev-ui-secret-0123456789"
    key = generate_key()
    [sealed] = await EncryptionCodec([key]).encode(
        [Payload(metadata={"encoding": b"json/plain"}, data=b'{"tenant_id":"ten_any"}')]
    )
    wire = json_format.MessageToDict(Payloads(payloads=[sealed]))
    dev = {"codec_ui_secret": SecretStr(secret), "cors_origins": UI_ORIGIN, "encryption_key": key}
    async with api(**dev) as client:
        from_ui = await client.post(
            f"/codec/ui/{secret}/decode",
            json=wire,
            headers={"Origin": UI_ORIGIN, "X-Namespace": "default"},
        )
        assert from_ui.status_code == 200, from_ui.text
        assert from_ui.headers["access-control-allow-origin"] == UI_ORIGIN
        [payload] = from_ui.json()["payloads"]
        assert base64.b64decode(payload["data"]) == b'{"tenant_id":"ten_any"}'
        # The UI's origin without a token, or a wrong secret: nothing.
        forged = await client.post(
            "/codec/decode", json=wire, headers={"Origin": UI_ORIGIN, "X-Namespace": "default"}
        )
        assert_error(forged, 401, "unauthorized")
        guessed = await client.post("/codec/ui/not-the-secret/decode", json=wire)
        assert_error(guessed, 404, "not_found")
    async with api(cors_origins=UI_ORIGIN) as client:  # no secret set: no such path
        assert_error(await client.post("/codec/ui//decode", json=wire), 404)
        assert_error(await client.post("/codec/ui/None/decode", json=wire), 404)


async def test_production_default_needs_a_token_even_from_the_ui_origin(client):
    response = await client.post(
        "/codec/decode", json=plain_payloads(), headers={"Origin": UI_ORIGIN}
    )
    assert_error(response, 401, "unauthorized")
