"""Publishing every platform variant under one multi-platform index, addressed by digest."""

from __future__ import annotations

import re
from collections.abc import Sequence

import dagger
from dagger import dag

_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def image_address(registry: str, image: str, tag: str) -> str:
    if not _TAG.match(tag):
        raise ValueError(f"invalid image tag {tag!r}: letters, digits, '_', '.', '-' only")
    return f"{registry.rstrip('/')}/{image.strip('/')}:{tag}"


def publisher(registry: str, username: str, password: dagger.Secret) -> dagger.Container:
    """An empty container that only carries the registry login for `publish`."""
    return dag.container().with_registry_auth(registry, username, password)


def pinned_ref(registry: str, image: str, resolved: str) -> str:
    """`registry/image@sha256:...` from what the engine resolved a tag to (`name:tag@digest`)."""
    found = _DIGEST.search(resolved)
    if not found:
        raise RuntimeError(f"the registry resolved the tag without a digest: {resolved}")
    return f"{registry.rstrip('/')}/{image.strip('/')}@{found.group(1)}"


def digest_ref(registry: str, image: str, published: Sequence[str]) -> str:
    """`registry/image@sha256:...` once every tag is known to point at the same index."""
    digests = set()
    for ref in published:
        found = _DIGEST.search(ref)
        if not found:
            raise RuntimeError(f"the registry answered without a digest: {ref}")
        digests.add(found.group(1))
    if len(digests) != 1:
        raise RuntimeError(f"tags point at different digests: {sorted(digests)}")
    return f"{registry.rstrip('/')}/{image.strip('/')}@{digests.pop()}"
