"""Fakes of the two engine reads the pipeline makes before it builds anything (no engine here).

`FakeEngine` answers `File.contents()` from the checkout on disk (where the engine would read the
uploaded source) and `Secret.plaintext()` from a dict standing in for the caller's environment,
raising the SDK's own QueryError for an unset variable, as the engine does. Named fakes: what a
real engine does with the resulting graph is not modelled here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagger
import gql
import pytest
from dagger._exceptions import QueryErrorValue

from tests.pipeline import graph


def query_error(message: str) -> dagger.QueryError:
    return dagger.QueryError([QueryErrorValue(message)], gql.GraphQLRequest(gql.gql("{ x }")))


@dataclass
class FakeEngine:
    root: Path
    environ: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        engine = self

        async def contents(file: Any) -> str:
            path = graph.steps(file)[-1].args["path"]
            return engine.files.get(path) or (engine.root / path).read_text()

        async def plaintext(secret: Any) -> str:
            (uri,) = [s.args["uri"] for s in graph.steps(secret) if s.name == "secret"]
            name = uri.removeprefix("env://")
            if name not in engine.environ:
                raise query_error(f'secret env var not found: "{name}"')
            return engine.environ[name]

        monkeypatch.setattr(dagger.File, "contents", contents)
        monkeypatch.setattr(dagger.Secret, "plaintext", plaintext)
