"""A deploy to an environment whose load gate is required, without the gate's users, is refused
before the target is asked anything (deploy/gate_policy.py, deploy/rollout.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from deploy.gate_policy import GateUnready, gate_users, required
from deploy.loadgate import LoadGateFailed, tokens_from_env

REPO = Path(__file__).resolve().parents[2]
IMAGE = "registry.example/nox@sha256:" + "ab" * 32

CONFIG = """
[environments.staging]
load_gate = "required"
load_tokens = "env://NOX_LOAD_TOKENS"
[environments.prod]
load_gate = "optional"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "environments.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(autouse=True)
def no_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOX_LOAD_TOKENS", raising=False)
    monkeypatch.delenv("NOX_LOAD_TOKENS_FILE", raising=False)


def test_the_shipped_file_requires_the_gate_for_staging_only() -> None:
    assert required("staging") and not required("prod") and not required("test")


def test_a_required_gate_without_users_names_what_to_set(config: Path) -> None:
    with pytest.raises(GateUnready) as refused:
        gate_users("staging", config)
    message = str(refused.value)
    assert "NOX_LOAD_TOKENS" in message and "nothing was applied" in message
    assert 'load_gate = "required"' in message


def test_an_optional_gate_without_users_is_skipped(config: Path) -> None:
    assert gate_users("prod", config) == [] and gate_users("test", config) == []


def test_users_come_from_the_variable(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOX_LOAD_TOKENS", " tok-a, tok-b ,")
    assert gate_users("staging", config) == ["tok-a", "tok-b"]


def test_users_come_from_the_file_the_pipeline_mounts(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "load-tokens"
    tokens.write_text("tok-a,tok-b\ntok-c\n")
    monkeypatch.setenv("NOX_LOAD_TOKENS_FILE", str(tokens))
    monkeypatch.setenv("NOX_LOAD_TOKENS", "ignored")  # the file wins
    assert gate_users("staging", config) == ["tok-a", "tok-b", "tok-c"]


def test_an_unreadable_tokens_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOX_LOAD_TOKENS_FILE", str(tmp_path / "absent"))
    with pytest.raises(LoadGateFailed, match="NOX_LOAD_TOKENS_FILE: cannot read"):
        tokens_from_env()


def deploy_sh(tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """scripts/deploy.sh deploy --env staging against a docker that only records its calls."""
    calls = tmp_path / "docker-calls"
    docker = tmp_path / "docker"
    docker.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexit 1\n')
    docker.chmod(0o755)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NOX_LOAD_TOKENS")},
        "DOCKER": str(docker),
        "NOX_DEPLOY_STATE_DIR": str(tmp_path / "state"),
        **extra,
    }
    cmd = [str(REPO / "scripts" / "deploy.sh"), "deploy", "--target", "swarm", "--env", "staging"]
    done = subprocess.run(
        [*cmd, "--image", IMAGE], capture_output=True, text=True, env=env, check=False
    )
    return done, calls


@pytest.mark.parametrize("tokens", [None, "", " , "], ids=["unset", "empty", "only-commas"])
def test_deploy_sh_to_staging_without_gate_users_applies_nothing(
    tmp_path: Path, tokens: str | None
) -> None:
    done, calls = deploy_sh(tmp_path, **({} if tokens is None else {"NOX_LOAD_TOKENS": tokens}))
    assert done.returncode == 1
    assert "load gate is required for staging" in done.stderr
    assert "NOX_LOAD_TOKENS" in done.stderr and "not run" not in done.stderr
    assert not calls.exists(), calls.read_text()  # docker was never run
    assert not (tmp_path / "state").exists()  # not even a failed attempt was logged


def test_deploy_sh_with_gate_users_goes_on_to_the_target(tmp_path: Path) -> None:
    """The refusal above is about the users: given them, the deploy reaches docker."""
    done, calls = deploy_sh(tmp_path, NOX_LOAD_TOKENS="tok-a")
    assert done.returncode == 1  # the recording docker fails every call
    assert "load gate" not in done.stderr
    assert calls.read_text().strip()
