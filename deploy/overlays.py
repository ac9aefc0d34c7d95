"""Swarm overlays: what an environment deploys beside swarm/stack.yaml, named in one setting.

``NOX_SWARM_OVERLAYS=logs,pitr,monitoring`` (in deploy/environments.toml
``[environments.X.settings]``, or the shell's environment) picks them; an unknown name or a
missing variable stops the deploy before anything is applied. An overlay is made of:

- stack files merged over swarm/stack.yaml (``docker stack deploy -c stack.yaml -c FILE``);
- a stack of its own that must run *before* the app stack is deployed (the log collector:
  Docker's syslog driver refuses to start a container whose collector does not answer);
- a stack of its own deployed *after* the app stack rolled (the exporters: the app's rollouts
  never wait for them; they join the app stack's backend network).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

VARIABLE = "NOX_SWARM_OVERLAYS"
REPO = Path(__file__).resolve().parent.parent


class OverlayError(Exception):
    pass


@dataclass(frozen=True)
class Companion:
    """A stack of its own, named ``<app stack>-<suffix>``, from ``swarm/<file>``."""

    file: str
    suffix: str
    configs: tuple[str, ...] = ()  # repository files its Docker configs hold (NOX_CONFIG_REV)

    def stack(self, app_stack: str) -> str:
        return f"{app_stack}-{self.suffix}"

    def config_rev(self) -> str:
        """Configs are immutable in Swarm: name them after their content."""
        digest = hashlib.sha256()
        for path in self.configs:
            digest.update((REPO / path).read_bytes())
        return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Overlay:
    name: str
    merged: tuple[str, ...] = ()  # files under swarm/ merged over swarm/stack.yaml
    before: Companion | None = None
    after: Companion | None = None
    requires: tuple[str, ...] = ()  # variables its stack files cannot do without


OVERLAYS = {
    overlay.name: overlay
    for overlay in (
        Overlay(
            "logs",
            merged=("logs-shipping.yaml",),
            before=Companion(
                "logs.yaml",
                "logs",
                configs=("monitoring/logs/syslog-ng.conf", "monitoring/logs/collector.sh"),
            ),
        ),
        Overlay("pitr", merged=("pitr.yaml",), requires=("POSTGRES_PITR_IMAGE",)),
        Overlay("monitoring", after=Companion("monitoring.yaml", "exporters")),
    )
}


def chosen(environ: Mapping[str, str]) -> tuple[Overlay, ...]:
    """The overlays ``NOX_SWARM_OVERLAYS`` names (comma-separated), checked as a whole."""
    names = [name.strip() for name in environ.get(VARIABLE, "").split(",") if name.strip()]
    unknown = [name for name in names if name not in OVERLAYS]
    if unknown:
        raise OverlayError(
            f"{VARIABLE}: unknown overlay {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(OVERLAYS))}); nothing was deployed"
        )
    overlays = tuple(OVERLAYS[name] for name in dict.fromkeys(names))
    missing = [
        f"{variable} (overlay {o.name})"
        for o in overlays
        for variable in o.requires
        if not environ.get(variable)
    ]
    if missing:
        raise OverlayError(f"{VARIABLE}: set {', '.join(missing)}; nothing was deployed")
    return overlays
