"""The Swarm target: `docker stack deploy` of swarm/stack.yaml in two phases.

Phase 1 runs the migrate job with the new image while the api keeps the running one (on a
first deploy the api waits at 0 replicas); then the executor container is replaced
(deploy/executor.py); phase 2 rolls the api with start-first updates that Swarm itself rolls
back when the new tasks turn unhealthy.
The edge (HAProxy) keeps its image: it holds the host-mode ports, so replacing it is a
separate step. A first deploy takes it from NOX_EDGE_IMAGE.

Overlays (deploy/overlays.py, chosen by NOX_SWARM_OVERLAYS) add stack files to both phases,
a stack deployed and running before them (the log collector) and one deployed after the api
rolled (the exporters). The executor logs where the api logs (its driver, its own tag).

The release record (which image serves, which served before it) lives on the api service as
the labels ``nox.release.current`` and ``nox.release.previous``, so `rollback` works from any
machine that reaches the engine. Not Swarm's own PreviousSpec (`docker service rollback`): it
holds one spec back of one service, any later update overwrites it (a label change, a config
rotation, the automatic rollback of a failed deploy itself), and the executor, which is not a
service, has none. The stack file carries both labels from the environment, and every
`docker stack deploy` passes the recorded values through, so a deploy never erases them; the
new pair is written (`docker service update --label-add`, which restarts no task) only after
the rollout passed its smoke test.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from deploy import executor
from deploy.overlays import OVERLAYS, Companion, Overlay

ROLLED_BACK = {"rollback_completed", "rollback_paused"}
CURRENT = "nox.release.current"
PREVIOUS = "nox.release.previous"


class RolloutFailed(Exception):
    pass


@dataclass(frozen=True)
class Swarm:
    stack: str
    stack_file: Path
    api_replicas: int = 2
    timeout_s: float = 300.0
    docker: str = "docker"
    secrets_prefix: str = "nox-v1"
    state_dir: Path = Path(".")
    edge_image: str | None = None  # NOX_EDGE_IMAGE: used until an edge runs
    overlays: tuple[Overlay, ...] = ()

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(
            [self.docker, *args], capture_output=True, text=True, env=env, check=False
        )
        if proc.returncode != 0:
            raise RolloutFailed(f"docker {' '.join(args[:3])}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def inspect(self, service: str, template: str) -> str | None:
        proc = subprocess.run(
            [self.docker, "service", "inspect", "--format", template, f"{self.stack}_{service}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip() if proc.returncode == 0 else None

    def image_of(self, service: str) -> str | None:
        return self.inspect(service, "{{.Spec.TaskTemplate.ContainerSpec.Image}}")

    def edge(self) -> str:
        running = self.image_of("edge")
        if running:
            return running
        if not self.edge_image:
            raise RolloutFailed("no edge runs yet: set NOX_EDGE_IMAGE (scripts/airgap-images.sh)")
        return self.edge_image

    def config_rev(self) -> str:
        """Configs are immutable in Swarm: name them after their content."""
        digest = hashlib.sha256()
        for name in ("haproxy.cfg",):
            digest.update((self.stack_file.parent / name).read_bytes())
        return digest.hexdigest()[:12]

    def stack_deploy(
        self, *, image: str, migrate_image: str, edge_image: str, replicas: int
    ) -> None:
        env = {
            **os.environ,
            "NOX_SECRETS": self.secrets_prefix,
            "NOX_IMAGE": image,
            "NOX_MIGRATE_IMAGE": migrate_image,
            "NOX_EDGE_IMAGE": edge_image,
            "NOX_API_REPLICAS": str(replicas),
            "NOX_STACK_NAME": self.stack,
            "NOX_CONFIG_REV": self.config_rev(),
        }
        # the release record rides along unchanged (a stack deploy replaces service labels)
        current, previous = self.release_record()
        env |= {"NOX_RELEASE_CURRENT": current or "", "NOX_RELEASE_PREVIOUS": previous or ""}
        for overlay in self.overlays:
            if overlay.before:
                self.deploy_companion(overlay.before, wait=True)
        files = [
            self.stack_file,
            *(self.stack_file.parent / f for o in self.overlays for f in o.merged),
        ]
        # --resolve-image never: images are given by digest or exist locally; no registry
        # lookup may silently change what runs
        self.run(
            "stack", "deploy", "--resolve-image", "never", "--prune",
            *(arg for f in files for arg in ("-c", str(f))), self.stack, env=env,
        )  # fmt: skip

    def deploy_companion(self, companion: Companion, *, wait: bool) -> None:
        """A stack of an overlay's own; with ``wait``, until its tasks run (healthy)."""
        name = companion.stack(self.stack)
        env = {
            **os.environ,
            "NOX_STACK_NAME": self.stack,
            "NOX_SECRETS": self.secrets_prefix,
            "NOX_CONFIG_REV": companion.config_rev(),
        }
        self.run(
            "stack", "deploy", "--resolve-image", "never", "--prune",
            "-c", str(self.stack_file.parent / companion.file), name, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + self.timeout_s
        services = self.run("stack", "services", "--format", "{{.Name}}", name).split()
        while wait and not all(self.all_running(s) for s in services):
            if time.monotonic() > deadline:
                raise RolloutFailed(f"stack {name} not running within {self.timeout_s:.0f}s")
            time.sleep(1)

    def wait_job(self, service: str) -> None:
        """Wait for the current iteration of a Swarm job; fail on its last failed attempt."""
        deadline = time.monotonic() + self.timeout_s
        iteration = self.inspect(
            service, "{{if .JobStatus}}{{.JobStatus.JobIteration.Index}}{{end}}"
        )
        while time.monotonic() < deadline:
            states = self._job_states(service, iteration or "0")
            if "complete" in states:
                return
            if states.count("failed") + states.count("rejected") >= 5:
                raise RolloutFailed(f"{service} job failed: {self._task_errors(service)}")
            time.sleep(1)
        raise RolloutFailed(f"{service} job did not finish within {self.timeout_s:.0f}s")

    def _job_states(self, service: str, iteration: str) -> list[str]:
        ids = self.run("service", "ps", "-q", "--no-trunc", f"{self.stack}_{service}").split()
        if not ids:
            return []
        lines = self.run(
            "inspect", "--format", "{{.JobIteration.Index}} {{.Status.State}}", *ids
        ).splitlines()
        return [ln.split()[1] for ln in lines if ln.split()[0] == iteration]

    def _task_errors(self, service: str) -> str:
        return self.run(
            "service", "ps", "--no-trunc", "--format", "{{.CurrentState}} {{.Error}}",
            f"{self.stack}_{service}",
        )  # fmt: skip

    def wait_rollout(self, service: str, *, started_before: str | None, changed: bool) -> None:
        """Wait until ``service`` converged. When Swarm rolls the update back, wait for the
        rollback to finish (so the caller finds a settled service), then raise."""
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            status = self.inspect(
                service, "{{if .UpdateStatus}}{{.UpdateStatus.StartedAt}}|{{.UpdateStatus.State}}|"
                "{{.UpdateStatus.Message}}{{end}}",
            ) or ""  # fmt: skip
            started, state, message = ([*status.split("|", 2), "", ""])[:3]
            if changed and started_before is not None and started == started_before:
                pass  # our update has not been picked up yet
            elif state in ("updating", "rollback_started"):
                pass
            elif changed and state in ROLLED_BACK:
                raise RolloutFailed(f"{service}: Swarm {state}: {message}")
            elif state == "paused":
                raise RolloutFailed(f"{service}: update paused: {message}")
            elif self.converged(service):
                return
            time.sleep(1)
        raise RolloutFailed(f"{service} did not converge within {self.timeout_s:.0f}s")

    def converged(self, service: str) -> bool:
        return self.all_running(f"{self.stack}_{service}")

    def all_running(self, full_name: str) -> bool:
        replicas = self.run(
            "service", "ls", "--filter", f"name={full_name}", "--format", "{{.Replicas}}"
        )
        running, _, wanted = replicas.partition(" ")[0].partition("/")
        return bool(wanted) and running == wanted

    def started_at(self, service: str) -> str | None:
        return self.inspect(service, "{{if .UpdateStatus}}{{.UpdateStatus.StartedAt}}{{end}}")

    # -- the steps rollout.py drives (the same names as the Kubernetes target) --

    def current_image(self) -> str | None:
        return self.image_of("api")

    def digest(self, image: str) -> str:
        if "@sha256:" in image:
            return image.split("@", 1)[1]
        found = self.run(
            "image", "inspect", "--format", "{{range .RepoDigests}}{{.}} {{end}}|{{.Id}}", image
        )
        repo_digests, _, image_id = found.partition("|")
        for ref in repo_digests.split():
            return ref.split("@", 1)[1]
        return image_id  # a local build that was never pushed: its image id

    def migrate(self, image: str) -> None:
        running = self.current_image()
        self.stack_deploy(
            image=running or image,
            migrate_image=image,
            edge_image=self.edge(),
            # first deploy: no api before the schema exists
            replicas=self.api_replicas if running else 0,
        )
        self.wait_job("migrate")

    def roll(self, image: str) -> None:
        self._roll(image, migrate_image=image)

    def restore(self, image: str) -> None:
        # the schema stays where the newer migrations left it (they are additive)
        self._roll(image, migrate_image=self.image_of("migrate") or image)

    def _roll(self, image: str, *, migrate_image: str) -> None:
        try:
            executor.ensure(
                docker=self.docker, stack=self.stack, image=image, state_dir=self.state_dir,
                prefix=self.secrets_prefix, timeout_s=self.timeout_s, logging=self.api_logging(),
            )  # fmt: skip
        except executor.ExecutorFailed as exc:
            raise RolloutFailed(str(exc)) from exc
        before = {"api": (self.started_at("api"), self.image_of("api") != image)}
        self.stack_deploy(
            image=image, migrate_image=migrate_image, edge_image=self.edge(),
            replicas=self.api_replicas,
        )  # fmt: skip
        for service, (started, changed) in before.items():
            self.wait_rollout(service, started_before=started, changed=changed)
        self.wait_rollout("edge", started_before=None, changed=False)
        for overlay in self.overlays:
            if overlay.after:
                self.deploy_companion(overlay.after, wait=False)

    def api_logging(self) -> dict[str, object] | None:
        """The api service's log driver and options (Swarm's LogDriver), None for the
        engine's default: the executor container ships its lines the same way."""
        found = json.loads(self.inspect("api", "{{json .Spec.TaskTemplate.LogDriver}}") or "null")
        return found if isinstance(found, dict) else None

    def release_record(self) -> tuple[str | None, str | None]:
        """(current, previous) image as labelled on the live api service."""
        labels = json.loads(self.inspect("api", "{{json .Spec.Labels}}") or "null") or {}
        return labels.get(CURRENT) or None, labels.get(PREVIOUS) or None

    def record_release(self, current: str, previous: str | None) -> None:
        # --no-resolve-image: the spec's image must stay exactly what was deployed
        self.run(
            "service", "update", "--detach", "--no-resolve-image",
            "--label-add", f"{CURRENT}={current}", "--label-add", f"{PREVIOUS}={previous or ''}",
            f"{self.stack}_api",
        )  # fmt: skip

    def remove(self) -> None:
        """Take the stack down, with every overlay's stack of its own whatever the overlays
        chosen now (the exporters and the executor container first: they hold the backend
        network). Volumes and secrets stay: they are the data and the credentials."""
        stacks = self.run("stack", "ls", "--format", "{{.Name}}").split()
        after = [c.stack(self.stack) for o in OVERLAYS.values() if (c := o.after)]
        before = [c.stack(self.stack) for o in OVERLAYS.values() if (c := o.before)]
        for name in after:
            if name in stacks:
                self.remove_stack(name)
        executor.remove_all(self.docker, self.stack)
        self.remove_stack(self.stack)
        for name in before:
            if name in stacks:
                self.remove_stack(name)

    def remove_stack(self, name: str) -> None:
        self.run("stack", "rm", name)
        label = f"label=com.docker.stack.namespace={name}"
        deadline = time.monotonic() + self.timeout_s
        while self.run("ps", "-q", "--filter", label) and time.monotonic() < deadline:
            time.sleep(1)
        for cid in self.run("ps", "-aq", "--filter", label).split():  # finished job tasks
            self.run("rm", "-f", cid)
        while self.run("network", "ls", "-q", "--filter", label) and time.monotonic() < deadline:
            time.sleep(1)
