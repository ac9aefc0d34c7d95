"""The Redis memory settings each deployment (compose, Swarm, Kubernetes) gives redis-server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
_UNITS = {"": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
_LIMIT_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "Ki": 1024, "Mi": 1024**2}


@dataclass(frozen=True)
class RedisMemory:
    deployment: str
    maxmemory_bytes: int
    policy: str
    limit_bytes: int


def _directive(text: str, name: str) -> str:
    # the config reaches redis-server as lines: a here-document, or printf's \n-separated format
    match = re.search(rf"(?:^|\n|\\n)\s*{name} (\S+?)(?:\\n|\n|$)", text)
    assert match, f"no {name} in {text!r}"
    return match.group(1)


def _bytes(value: str, units: dict[str, int]) -> int:
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", value)
    assert match, value
    return int(match.group(1)) * units[match.group(2)]


def _redis_memory(deployment: str, command: Any, limit: str) -> RedisMemory:
    text = "\n".join(command) if isinstance(command, list) else str(command)
    return RedisMemory(
        deployment=deployment,
        maxmemory_bytes=_bytes(_directive(text, "maxmemory").lower(), _UNITS),
        policy=_directive(text, "maxmemory-policy"),
        limit_bytes=_bytes(limit, _LIMIT_UNITS),
    )


def deployments() -> list[RedisMemory]:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["redis"]
    swarm = yaml.safe_load((REPO / "swarm" / "stack.yaml").read_text())["services"]["redis"]
    k8s = yaml.safe_load_all((REPO / "k8s" / "base" / "redis.yaml").read_text())
    container = next(d for d in k8s if d["kind"] == "StatefulSet")["spec"]["template"]["spec"][
        "containers"
    ][0]
    return [
        _redis_memory(
            "compose", compose["command"], compose["deploy"]["resources"]["limits"]["memory"]
        ),
        _redis_memory(
            "swarm", swarm["entrypoint"], swarm["deploy"]["resources"]["limits"]["memory"]
        ),
        _redis_memory("k8s", container["command"], container["resources"]["limits"]["memory"]),
    ]


def policy() -> str:
    """The one eviction policy every deployment agrees on."""
    (only,) = {d.policy for d in deployments()}
    return only
