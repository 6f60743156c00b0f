from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(data_dir=tmp_path / "hl")
    try:
        yield stack.start()
    finally:
        stack.stop()
