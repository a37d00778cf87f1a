from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callgate.storage.journal import Journal


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"


@pytest.fixture
async def journal(db_url: str) -> AsyncIterator[Journal]:
    opened = await Journal.open(db_url)
    yield opened
    await opened.close()
