"""Fixtures for tests on PostgreSQL: a throwaway cluster, one fresh database per test, and a
hub database of each engine for tests that run on both. A pytest plugin (registered in
tests/conftest.py), so every folder's tests can ask for ``pg_url`` or ``db_url``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from peakend.broker.devtools.pg_cluster import ClusterUnavailable, TempCluster

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempCluster]:
    """A PostgreSQL cluster initdb'ed in a temporary folder on an ephemeral port; skipped when
    the server binaries are not installed."""
    try:
        cluster = TempCluster.start()
    except ClusterUnavailable as exc:
        pytest.skip(f"no PostgreSQL for these tests: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: TempCluster) -> str:
    """The URL of a fresh, empty database in the throwaway cluster."""
    return pg_cluster.create_database(f"hub{next(_names)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh hub database of each engine, as a --db value."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.sqlite'}"
    return request.getfixturevalue("pg_url")
