"""Cluster tests run against a stack started by `make cluster` (or deploy/scripts/smoke.sh)
and only with -m cluster: the default `make test` deselects them."""

from collections.abc import Iterator

import httpx
import pytest

from tests.cluster.cluster import Cluster


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    return Cluster.from_env()


@pytest.fixture
def client(cluster: Cluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.base_url, timeout=10) as c:
        yield c
