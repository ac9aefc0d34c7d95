"""The load gate (deploy/loadgate.py) against the compose stack: it passes on the healthy
stack and fails once the api container is throttled to a fiftieth of a core."""

from __future__ import annotations

import pytest

from deploy.loadgate import LoadGateFailed, gate, p95_bound_ms
from tests.container.conftest import Stack
from tests.container.engine import run

SECONDS = 12.0


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> list[str]:
    return [stack.token(f"load-{n}@example.com") for n in range(3)]


def test_gate_passes_on_the_healthy_stack(stack: Stack, tokens: list[str]) -> None:
    result = gate(
        f"http://127.0.0.1:{stack.port}", tokens, seconds=SECONDS, bound_ms=p95_bound_ms()
    )
    assert result.errors == [] and len(result.latencies_ms) >= 3 * 6
    print(f"\nhealthy stack: p95 {result.p95():.0f} ms over {len(result.latencies_ms)} requests")


def test_gate_fails_on_a_throttled_api(stack: Stack, tokens: list[str]) -> None:
    api = stack.compose.container("api")
    run(["docker", "update", "--cpus", "0.02", api])
    try:
        with pytest.raises(LoadGateFailed, match=r"p95|errors") as failed:
            gate(f"http://127.0.0.1:{stack.port}", tokens, seconds=SECONDS, bound_ms=p95_bound_ms())
        print(f"\nthrottled api (0.02 CPU): {failed.value}")
    finally:
        run(["docker", "update", "--cpus", "1.0", api])
