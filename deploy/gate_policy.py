"""Whether a deploy to an environment must pass the load gate, asked before anything is applied.

deploy/environments.toml says it per environment: ``load_gate = "required"`` (a deploy without
the gate's users is refused) or ``"optional"`` (the default, and for environments the file does
not name: the gate runs when users are given). The Dagger module reads the same key
(ci/src/nox_ci/environments.py, which also validates the file); the pipeline tier holds the two
readers together.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from deploy.loadgate import tokens_from_env

CONFIG = Path(__file__).resolve().parent / "environments.toml"


class GateUnready(Exception):
    """The environment requires the load gate and its users' tokens are missing."""


def required(env: str, config: Path = CONFIG) -> bool:
    if not config.is_file():
        return False
    environments = tomllib.loads(config.read_text()).get("environments", {})
    return bool(environments.get(env, {}).get("load_gate") == "required")


def gate_users(env: str, config: Path = CONFIG) -> list[str]:
    """The gate's users for a deploy to ``env``; GateUnready when it requires them and none
    are given."""
    tokens = tokens_from_env()
    if not tokens and required(env, config):
        raise GateUnready(
            f'the load gate is required for {env} (load_gate = "required" in deploy/'
            f"{config.name}) and has no users: set NOX_LOAD_TOKENS to their API tokens, "
            "comma-separated, or NOX_LOAD_TOKENS_FILE to a file holding them "
            "(docs/operations.md, 5b); nothing was applied"
        )
    return tokens
