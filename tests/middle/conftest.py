"""Fixtures of the middle tier: real servers in this process, the process on the other side
faked (tests/middle/door.py, tests/middle/chain.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.middle.door import Door, open_door
from tests.middle.inprocess import short_state_dir


@pytest.fixture
def state_dir() -> Iterator[Path]:
    with short_state_dir() as root:
        yield Path(root)


@pytest.fixture
async def door(state_dir: Path) -> AsyncIterator[Door]:
    async with open_door(state_dir) as opened:
        yield opened
