"""Shared fixtures: a real mosquitto on an ephemeral loopback port and the real aggregator."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubtools import ARTIFACTS, Hub, broker_root

# pg_cluster, pg_url, db_url: a throwaway PostgreSQL for any folder's tests
pytest_plugins = ["pgtools"]


@pytest.fixture
def hub() -> Iterator[Hub]:
    """A running mosquitto and aggregator on fresh files; devices via hub.provision()."""
    root = broker_root()
    h = Hub(root)
    try:
        h.start_broker()
        h.start_aggregator()
        yield h
    finally:
        h.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def bare_hub() -> Iterator[Hub]:
    """Broker folder and database, nothing started: the test decides what runs when."""
    root = broker_root()
    h = Hub(root)
    try:
        yield h
    finally:
        h.close()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A folder for screenshots and other evidence a test leaves behind."""
    path = ARTIFACTS / request.node.path.parent.name
    path.mkdir(parents=True, exist_ok=True)
    return path
