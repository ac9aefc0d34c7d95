"""Every deployment bounds Redis below its container's memory limit and never evicts."""

from __future__ import annotations

import pytest

from tests.redis_manifests import RedisMemory, deployments, policy


@pytest.mark.parametrize("redis", deployments(), ids=lambda d: d.deployment)
def test_maxmemory_leaves_a_quarter_of_the_limit_for_overhead(redis: RedisMemory) -> None:
    assert 0 < redis.maxmemory_bytes <= redis.limit_bytes * 3 // 4


def test_every_deployment_uses_noeviction() -> None:
    # sessions and OAuth state carry TTLs like the counters do: any volatile-* or allkeys-*
    # policy could evict them (docs/operations.md "Redis memory")
    assert policy() == "noeviction"
