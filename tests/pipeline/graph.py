"""The one place that reads a Dagger object's lazy query chain, so tests never touch SDK internals.

Every SDK object (Container, Service, File, Secret, ...) keeps the calls that built it as a list
of selections `(type_name, name, args)` in `obj._ctx.selections`; builder methods only append
to it and nothing runs until a leaf call is awaited. Object arguments (a bound Service, a
mounted File, a Secret) stay live objects there, so their own chains can be walked too. The
structure is private to the SDK but has been stable from 0.15 to 0.21; `dagger-io` is pinned.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """One call in a chain, by its GraphQL name (`withExec`, `asService`, ...)."""

    name: str
    args: dict[str, Any]


def is_dagger_object(value: object) -> bool:
    return hasattr(value, "_ctx") and hasattr(value._ctx, "selections")


def steps(obj: object) -> list[Step]:
    if not is_dagger_object(obj):
        raise TypeError(f"not a lazy Dagger object: {obj!r}")
    return [Step(f.name, dict(f.args)) for f in obj._ctx.selections]  # type: ignore[attr-defined]


def names(obj: object) -> list[str]:
    return [s.name for s in steps(obj)]


def find(obj: object, name: str) -> list[dict[str, Any]]:
    """The arguments of every call named `name`, in order."""
    return [s.args for s in steps(obj) if s.name == name]


def one(obj: object, name: str) -> dict[str, Any]:
    found = find(obj, name)
    assert len(found) == 1, f"expected one {name}, found {len(found)} in {names(obj)}"
    return found[0]


def cache_at(obj: object, path: str) -> dict[str, Any]:
    """The cache volume mounted at `path`: its key and sharing mode."""
    mounts = [a for a in find(obj, "withMountedCache") if a["path"] == path]
    assert len(mounts) == 1, f"expected one cache at {path}: {render(obj)}"
    volume = one(mounts[0]["cache"], "cacheVolume")
    return {"key": volume["key"], "sharing": mounts[0].get("sharing", "SHARED")}


def execs(obj: object) -> list[list[str]]:
    return [list(a["args"]) for a in find(obj, "withExec")]


def env(obj: object) -> dict[str, str]:
    """Plain environment variables as the container ends up with them."""
    values: dict[str, str] = {}
    for s in steps(obj):
        if s.name == "withEnvVariable":
            values[s.args["name"]] = s.args["value"]
        elif s.name == "withoutEnvVariable":
            values.pop(s.args["name"], None)
    return values


def images(obj: object) -> list[str]:
    """Every image address pulled anywhere in the graph."""
    return [args["address"] for o in walk(obj) for args in find(o, "from")]


def walk(obj: object) -> Iterator[object]:
    """The object and every Dagger object reachable through its arguments, depth first."""
    stack = [obj]
    seen: list[object] = []  # SDK objects are unhashable: compare by identity
    while stack:
        current = stack.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        yield current
        for s in steps(current):
            for value in s.args.values():
                items = value if isinstance(value, list) else [value]
                stack.extend(v for v in items if is_dagger_object(v))


def every_step(obj: object) -> Iterator[Step]:
    for o in walk(obj):
        yield from steps(o)


def strings(obj: object) -> Iterator[str]:
    """Every plain string argument in the graph: where a leaked secret would show up."""
    for s in every_step(obj):
        for value in s.args.values():
            items = value if isinstance(value, list) else [value]
            yield from (v for v in items if isinstance(v, str))


def render(obj: object, indent: int = 0) -> str:
    """A readable dump of a chain, for assertion messages."""
    lines = []
    for s in steps(obj):
        plain = {k: v for k, v in s.args.items() if not is_dagger_object(v)}
        lines.append(" " * indent + f"{s.name}{plain or ''}")
        for key, value in s.args.items():
            if is_dagger_object(value):
                lines.append(" " * indent + f"  {key}:")
                lines.append(render(value, indent + 4))
    return "\n".join(lines)
