"""deploy/environments.toml: what the brief's commands leave out, read from the repository.

`dagger call publish` and `dagger call deploy --env prod` take the registry, the target, the
public URL and the names of their credentials from this file; flags only override. Parsing is
pure (tested offline); resolving a credential reference asks the engine for the secret.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any, Final

CONFIG_PATH: Final = "deploy/environments.toml"
SECRET_SCHEMES: Final = ("env://", "file://")
TARGETS: Final = ("swarm", "k8s")
# [environments.X.settings]: non-secret variables of scripts/deploy.sh (NOX_STACK, NOX_EDGE_PORT,
# NOX_EDGE_IMAGE, ...; the list is in deploy/__main__.py). Credentials never go here.
SETTING_NAME: Final = re.compile(r"^(NOX|POSTGRES|REDIS|LOGS)_[A-Z0-9_]+$")
# load_gate: "required" (a deploy without the gate users' tokens is refused before anything is
# applied) or "optional" (the default: the gate runs when tokens are given). deploy/gate_policy.py
# reads the same key for scripts/deploy.sh; tests/pipeline/test_load_gate.py holds them together.
LOAD_GATES: Final = ("required", "optional")


class ConfigError(ValueError):
    """deploy/environments.toml is missing something a call needs; the message names it."""


@dataclass(frozen=True)
class Registry:
    address: str
    image: str
    username: str
    password: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Environment:
    name: str
    target: str
    url: str
    tag: str
    kubeconfig: str = ""
    docker_host: str = ""
    ssh_key: str = ""
    known_hosts: str = ""
    preview_url: str = ""  # k8s blue/green: Service/api-preview, smoke-tested before the switch
    settings: tuple[tuple[str, str], ...] = ()  # deploy.sh's variables for this environment
    load_gate: str = "optional"
    load_tokens: str = ""  # the gate users' API tokens, comma-separated (a credential)

    def credentials(self) -> dict[str, str]:
        """Each credential this environment's target needs, by its key in the file."""
        if self.target == "k8s":
            return {"kubeconfig": self.kubeconfig}
        if self.docker_host.startswith("ssh://"):
            return {"ssh_key": self.ssh_key, "known_hosts": self.known_hosts}
        return {}

    def gate_credentials(self) -> dict[str, str]:
        """The load gate's users (deploy only; rollback runs no gate)."""
        return {"load_tokens": self.load_tokens} if self.load_tokens else {}


@dataclass(frozen=True)
class Config:
    registry: Registry
    environments: dict[str, Environment]

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments)) or "none"
            message = f"{CONFIG_PATH} has no [environments.{name}] (has: {known})"
            raise ConfigError(message) from None


def is_reference(value: str) -> bool:
    return value.startswith(SECRET_SCHEMES)


def _text(table: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = table.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise ConfigError(f'{CONFIG_PATH}: [{where}] needs {key} = "..."')
    return value


def _reference(table: dict[str, Any], key: str, where: str, *, required: bool) -> str:
    value = _text(table, key, where, required=required)
    if value and not is_reference(value):
        raise ConfigError(
            f"{CONFIG_PATH}: [{where}] {key} must name a credential (env://VAR or file://PATH), "
            "never hold one"
        )
    return value


def _registry(table: dict[str, Any]) -> Registry:
    tags = table.get("tags", [])
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f'{CONFIG_PATH}: [registry] needs tags = ["..."]')
    return Registry(
        address=_text(table, "address", "registry"),
        image=_text(table, "image", "registry"),
        username=_text(table, "username", "registry"),
        password=_reference(table, "password", "registry", required=True),
        tags=tuple(tags),
    )


def _environment(name: str, table: dict[str, Any]) -> Environment:
    where = f"environments.{name}"
    target = _text(table, "target", where)
    if target not in TARGETS:
        raise ConfigError(f"{CONFIG_PATH}: [{where}] target must be one of {', '.join(TARGETS)}")
    env = Environment(
        name=name,
        target=target,
        url=_text(table, "url", where),
        tag=_text(table, "tag", where),
        kubeconfig=_reference(table, "kubeconfig", where, required=target == "k8s"),
        docker_host=_text(table, "docker_host", where, required=target == "swarm"),
        ssh_key=_reference(table, "ssh_key", where, required=False),
        known_hosts=_reference(table, "known_hosts", where, required=False),
        preview_url=_text(table, "preview_url", where, required=False),
        settings=_settings(table.get("settings", {}), f"{where}.settings"),
        load_gate=_load_gate(table, where),
        load_tokens=_reference(table, "load_tokens", where, required=False),
    )
    missing = [key for key, value in env.credentials().items() if not value]
    if missing:
        raise ConfigError(f"{CONFIG_PATH}: [{where}] needs {', '.join(missing)} for ssh://")
    if env.load_gate == "required" and not env.load_tokens:
        raise ConfigError(
            f'{CONFIG_PATH}: [{where}] load_gate = "required" needs load_tokens = "env://VAR" '
            "(the gate users' API tokens)"
        )
    return env


def _load_gate(table: dict[str, Any], where: str) -> str:
    value = table.get("load_gate", "optional")
    if value not in LOAD_GATES:
        choices = ", ".join(LOAD_GATES)
        raise ConfigError(f"{CONFIG_PATH}: [{where}] load_gate must be one of {choices}")
    return str(value)


def _settings(table: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(table, dict):
        raise ConfigError(f"{CONFIG_PATH}: [{where}] must be a table")
    settings = []
    for name, value in table.items():
        if not SETTING_NAME.match(name) or not isinstance(value, str | int):
            raise ConfigError(
                f"{CONFIG_PATH}: [{where}] {name}: a deploy.sh variable (NOX_..., POSTGRES_..., "
                "REDIS_..., LOGS_...) with a string or number value"
            )
        if any(word in name for word in ("PASSWORD", "TOKEN", "SECRET_KEY")):
            raise ConfigError(f"{CONFIG_PATH}: [{where}] {name}: credentials are never settings")
        settings.append((name, str(value)))
    return tuple(settings)


def parse(text: str) -> Config:
    data = tomllib.loads(text)
    environments = data.get("environments", {})
    return Config(
        registry=_registry(data.get("registry", {})),
        environments={name: _environment(name, table) for name, table in environments.items()},
    )


def registry_references(
    registry: Registry, *, username: str = "", password: object = None
) -> dict[str, str]:
    """The registry credentials still to read: those no flag gave."""
    wanted = {} if password is not None else {"registry.password": registry.password}
    if not username and is_reference(registry.username):
        wanted["registry.username"] = registry.username
    return wanted


# What a credential is for, where its key alone does not say it.
PURPOSES: Final = {
    "load_tokens": "the load gate's users, one API token each, comma-separated "
    "(docs/operations.md, 5b)",
}


def missing_message(unset: dict[str, str]) -> str:
    """One error for every credential that could not be read: what to set, and for what."""
    lines = [
        f"  {key}: set {where_to_set(ref)}" + (f": {PURPOSES[key]}" if key in PURPOSES else "")
        for key, ref in unset.items()
    ]
    return "credentials are missing or empty; nothing was run:\n" + "\n".join(lines)


def where_to_set(reference: str) -> str:
    if reference.startswith("env://"):
        return f"the environment variable {reference.removeprefix('env://')}"
    return f"the file {reference.removeprefix('file://')}"
