"""infra/converter.py: one shared pydantic payload converter (payload_converter_class)."""

from __future__ import annotations

import temporalio.converter
from pydantic import BaseModel
from temporalio.converter import WorkflowSerializationContext

from hookline.infra.converter import SharedPayloadConverter
from hookline.infra.crypto import data_converter


class Item(BaseModel):
    name: str


def test_one_converter_instance_serves_every_data_converter() -> None:
    first = temporalio.converter.DataConverter(payload_converter_class=SharedPayloadConverter)
    second = temporalio.converter.DataConverter(payload_converter_class=SharedPayloadConverter)
    assert SharedPayloadConverter() is SharedPayloadConverter()
    # Each DataConverter wraps it (SDK transfer types) but converts through the one instance.
    payload = first.payload_converter.to_payloads([Item(name="a")])[0]
    assert payload.data == b'{"name":"a"}'
    assert second.payload_converter.from_payloads([payload], [Item]) == [Item(name="a")]


def test_a_serialization_context_leaves_the_shared_instance_as_it_is() -> None:
    # If a part of it ever took a context, the SDK would build a new instance and set its
    # parts: on a shared instance that would leak one workflow's context into all.
    shared = SharedPayloadConverter()
    context = WorkflowSerializationContext(namespace="default", workflow_id="evt_1")
    assert shared.with_context(context) is shared


def test_the_clients_converter_uses_it_with_or_without_encryption() -> None:
    key = "A" * 43 + "="
    for converter in (data_converter([]), data_converter([key])):
        assert converter.payload_converter_class is SharedPayloadConverter
        payload = converter.payload_converter.to_payloads([Item(name="b")])[0]
        assert converter.payload_converter.from_payloads([payload], [Item]) == [Item(name="b")]
