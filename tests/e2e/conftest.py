"""Fixtures more than one e2e module asks for by name."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.prereq import require
from tests.support.postgres import PostgresServer, postgres_bin_dir, postgres_server


@pytest.fixture
def pg() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL from Debian's binaries (the exporters log in to it)."""
    bin_dir = postgres_bin_dir()
    require(bin_dir is not None, "PostgreSQL not found: apt-get install postgresql")
    assert bin_dir is not None
    with postgres_server(bin_dir) as server:
        yield server
