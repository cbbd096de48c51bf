"""Shared fixtures: a real mosquitto on an ephemeral loopback port and the real aggregator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hubtools import ARTIFACTS, Hub, temp_hub

# pg_cluster, pg_url, db_url: a throwaway PostgreSQL for any folder's tests
pytest_plugins = ["pgtools"]


@pytest.fixture
def hub() -> Iterator[Hub]:
    """A running mosquitto and aggregator on fresh files; devices via hub.provision()."""
    with temp_hub() as h:
        yield h


@pytest.fixture
def bare_hub() -> Iterator[Hub]:
    """Broker folder and database, nothing started: the test decides what runs when."""
    with temp_hub(start=False) as h:
        yield h


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A folder for screenshots and other evidence a test leaves behind."""
    path = ARTIFACTS / request.node.path.parent.name
    path.mkdir(parents=True, exist_ok=True)
    return path
