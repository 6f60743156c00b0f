"""payload_fastpath: one shared payload converter; payload visits skipped only with no codec."""

from __future__ import annotations

from collections.abc import Sequence

import temporalio.bridge.worker
import temporalio.converter
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion

from hookline.core.crypto import data_converter
from hookline.payload_fastpath import SharedPayloadConverter, skip_idle_payload_visits


class Item(BaseModel):
    name: str


class Reversing(temporalio.converter.PayloadCodec):
    """A codec whose effect is easy to see: the bytes reversed."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata=dict(p.metadata), data=p.data[::-1]) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.encode(payloads)


class Counting(temporalio.converter.DataConverter):
    """Counts the codec passes the visitor makes through it."""

    passes = 0

    async def _decode_payload_sequence(self, payloads: Sequence[Payload]) -> list[Payload]:
        type(self).passes += 1
        return await super()._decode_payload_sequence(payloads)


def activation_with(data: bytes) -> WorkflowActivation:
    activation = WorkflowActivation(run_id="run-1")
    start = activation.jobs.add().initialize_workflow
    start.workflow_type = "EventWorkflow"
    start.arguments.add(metadata={"encoding": b"json/plain"}, data=data)
    return activation


def completion_with(data: bytes) -> WorkflowActivationCompletion:
    completion = WorkflowActivationCompletion(run_id="run-1")
    command = completion.successful.commands.add().complete_workflow_execution
    command.result.CopyFrom(Payload(metadata={"encoding": b"json/plain"}, data=data))
    return completion


def test_one_converter_instance_serves_every_data_converter() -> None:
    first = temporalio.converter.DataConverter(payload_converter_class=SharedPayloadConverter)
    second = temporalio.converter.DataConverter(payload_converter_class=SharedPayloadConverter)
    assert SharedPayloadConverter() is SharedPayloadConverter()
    # Each DataConverter wraps it (SDK transfer types) but converts through the one instance.
    payload = first.payload_converter.to_payloads([Item(name="a")])[0]
    assert payload.data == b'{"name":"a"}'
    assert second.payload_converter.from_payloads([payload], [Item]) == [Item(name="a")]


async def test_visits_skipped_without_codec_and_made_with_one() -> None:
    assert skip_idle_payload_visits()
    assert skip_idle_payload_visits()  # idempotent: wrapped once
    decode = temporalio.bridge.worker.decode_activation
    assert decode.hookline_skips_idle_visits  # type: ignore[attr-defined]
    assert not getattr(decode.__wrapped__, "hookline_skips_idle_visits", False)  # type: ignore[attr-defined]

    plain = data_converter([])
    activation = activation_with(b'{"name":"a"}')
    metrics = await decode(activation, plain, decode_headers=True, storage_concurrency_limit=1)
    assert metrics.payload_count == 0
    assert activation.jobs[0].initialize_workflow.arguments[0].data == b'{"name":"a"}'
    counting = Counting(payload_converter_class=SharedPayloadConverter)
    await decode(activation, counting, decode_headers=True, storage_concurrency_limit=1)
    assert Counting.passes == 0  # no walk at all
    await decode.__wrapped__(activation, counting, decode_headers=True, storage_concurrency_limit=1)  # type: ignore[attr-defined]
    assert Counting.passes == 1  # what the SDK's own decoder does

    coded = temporalio.converter.DataConverter(
        payload_converter_class=SharedPayloadConverter, payload_codec=Reversing()
    )
    activation = activation_with(b"}...{")
    await decode(activation, coded, decode_headers=True, storage_concurrency_limit=1)
    assert activation.jobs[0].initialize_workflow.arguments[0].data == b"{...}"

    encode = temporalio.bridge.worker.encode_completion
    completion = completion_with(b"{...}")
    await encode(completion, plain, encode_headers=True, storage_concurrency_limit=1)
    result = completion.successful.commands[0].complete_workflow_execution.result
    assert result.data == b"{...}"
    completion = completion_with(b"{...}")
    await encode(completion, coded, encode_headers=True, storage_concurrency_limit=1)
    result = completion.successful.commands[0].complete_workflow_execution.result
    assert result.data == b"}...{"
