"""The module registers: the SDK's real type-definition builder accepts every function."""

from __future__ import annotations

import asyncio
from typing import Any

import dagger
import dagger.mod
import pytest

from tests.pipeline import graph
from tests.pipeline.conftest import load

main = load("main")

FUNCTIONS = {"build", "deploy", "lint", "publish", "rollback", "scan", "smoke", "test"}
NEVER_CACHED = {"deploy", "publish", "rollback", "scan", "smoke"}


@pytest.fixture(scope="module")
def typedefs() -> Any:
    """What the runtime sends the engine on `dagger functions`, built without an engine."""

    async def fake_id(self: Any) -> Any:
        return self  # registration ends by asking the engine for an ID; keep the object

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dagger.client.gen.Module, "id", fake_id)
        return asyncio.run(dagger.mod.default_module()._typedefs())


def _main_object(typedefs: Any) -> Any:
    return next(
        o
        for o in graph.walk(typedefs)
        if any(a.get("name") == "NoxCi" for a in graph.find(o, "withObject"))
    )


def _functions(typedefs: Any) -> dict[str, list[graph.Step]]:
    """Each function's typedef steps, keyed by function name."""
    functions: dict[str, list[graph.Step]] = {}
    for args in graph.find(_main_object(typedefs), "withFunction"):
        fn = args["function"]
        name = graph.find(fn, "function")[0]["name"]
        functions[name] = graph.steps(fn)
    return functions


def test_module_registers_one_main_object_with_its_description(typedefs: Any) -> None:
    top = graph.names(typedefs)
    assert top.count("withObject") == 1
    description = graph.one(typedefs, "withDescription")["description"]
    assert description.startswith("Nox 7 pipeline as code")


def test_every_pipeline_function_is_exposed(typedefs: Any) -> None:
    assert set(_functions(typedefs)) == FUNCTIONS


def test_functions_that_act_on_the_world_are_never_cached(typedefs: Any) -> None:
    policies = {
        name: [s.args["policy"] for s in steps if s.name == "withCachePolicy"]
        for name, steps in _functions(typedefs).items()
    }
    for name in NEVER_CACHED:
        assert policies[name] == ["Never"], name
    for name in FUNCTIONS - NEVER_CACHED:
        assert policies[name] == [], f"{name} should keep content-addressed caching"


def test_credentials_are_secret_typed_arguments(typedefs: Any) -> None:
    functions = _functions(typedefs)
    for fn, arg in [("publish", "password"), ("deploy", "kubeconfig"), ("deploy", "ssh_key"),
                    ("deploy", "known_hosts"), ("deploy", "load_tokens"),
                    ("rollback", "kubeconfig")]:  # fmt: skip
        found = [s for s in functions[fn] if s.name == "withArg" and s.args["name"] == arg]
        assert len(found) == 1, (fn, arg)
        type_names = [a.get("name") for a in graph.find(found[0].args["typeDef"], "withObject")]
        assert type_names == ["Secret"], (fn, arg, type_names)


@pytest.mark.parametrize(
    ("enum", "members"), [("Env", ["staging", "prod"]), ("Target", ["swarm", "k8s"])]
)
def test_environments_and_targets_are_enums(typedefs: Any, enum: str, members: list[str]) -> None:
    (found,) = [
        a["enum"]
        for a in graph.find(typedefs, "withEnum")
        if graph.find(a["enum"], "withEnum")[0]["name"] == enum
    ]
    assert [a["value"] for a in graph.find(found, "withEnumMember")] == members


def test_source_defaults_to_the_repository_root_without_local_junk(typedefs: Any) -> None:
    constructor = graph.one(_main_object(typedefs), "withConstructor")["function"]
    source = next(s for s in graph.steps(constructor) if s.name == "withArg")
    assert source.args["name"] == "source"
    assert source.args["defaultPath"] == "/"
    assert {".git", ".venv", "**/node_modules", "ci/sdk"} <= set(source.args["ignore"])


def test_a_leaf_call_without_engine_fails_fast() -> None:
    """The tripwire this tier relies on: nothing here silently reaches for an engine."""
    ctr = main.lint_container(dagger.dag.directory())
    with pytest.raises(dagger.ClientConnectionError):
        asyncio.run(ctr.stdout())
