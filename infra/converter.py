"""The payload converter of every client and worker: temporalio.contrib.pydantic's, built once.

The SDK builds a DataConverter for each workflow activation it decodes and each completion it
encodes, and every DataConverter instantiates its `payload_converter_class` (for pydantic, a
composite of converters with a fresh TypeAdapter cache). `SharedPayloadConverter` is given to
the SDK through that documented extension point and hands back one instance per process: the
converter keeps no per-workflow state (none of its parts takes a serialization context, so
`with_context` returns it unchanged; tests/unit/test_converter.py checks both).
"""

from __future__ import annotations

from typing import ClassVar

from temporalio.contrib.pydantic import PydanticPayloadConverter


class SharedPayloadConverter(PydanticPayloadConverter):
    """The pydantic payload converter, one instance per process whatever asks for one."""

    _shared: ClassVar[SharedPayloadConverter | None] = None

    def __new__(cls) -> SharedPayloadConverter:
        if cls._shared is None:
            shared = super().__new__(cls)
            PydanticPayloadConverter.__init__(shared)
            cls._shared = shared
        return cls._shared

    def __init__(self) -> None:  # built once, in __new__; later calls must not reset it
        pass
