"""Hardening every workload of every overlay must keep (Pod Security "restricted" and more).

The executor is the one documented exception to "restricted": an unmasked /proc inside its
own user namespace and our seccomp profile, both needed by bubblewrap.
"""

from __future__ import annotations

import pytest

from tests.unit.k8s_manifests import (
    OVERLAYS,
    ROOT,
    Doc,
    build,
    containers,
    find,
    is_nox,
    nox_command,
    pod_template,
    secret_refs,
    workloads,
)

EXECUTOR_SECCOMP = "nox/executor.json"


def all_workloads(overlay: str) -> list[tuple[str, Doc]]:
    found = list(workloads(build(overlay)))
    assert len(found) >= 6, "api slots, executor, postgres, redis, migrate, backup"
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_runs_as_non_root_without_host_access(overlay: str) -> None:
    for name, spec in all_workloads(overlay):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod.get("runAsUser", 1) != 0, name
        assert pod["seccompProfile"]["type"] in {"RuntimeDefault", "Localhost"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["enableServiceLinks"] is False, name
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(field), f"{name}: {field}"
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, f"{name}: {volume['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_is_locked_down(overlay: str) -> None:
    for name, spec in all_workloads(overlay):
        for container in containers(spec):
            context = container["securityContext"]
            label = f"{name}/{container['name']}"
            assert context["runAsNonRoot"] is True, label
            assert context["readOnlyRootFilesystem"] is True, label
            assert context["allowPrivilegeEscalation"] is False, label
            assert context["capabilities"]["drop"] == ["ALL"], label
            assert not context["capabilities"].get("add"), label
            assert not context.get("privileged"), label


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_and_limits(overlay: str) -> None:
    for name, spec in all_workloads(overlay):
        for container in containers(spec):
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[bound]), f"{name}: {bound}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_long_running_containers_have_probes(overlay: str) -> None:
    for name, spec in all_workloads(overlay):
        if name.startswith(("Job/", "CronJob/")):
            continue
        for container in spec["containers"]:
            assert "livenessProbe" in container and "readinessProbe" in container, name
            if not is_nox(container):
                continue
            # The api is ready when its dependencies answer; the executor has none to wait for.
            ready = "/readyz" if nox_command(container) == "serve" else "/healthz"
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["readinessProbe"]["httpGet"]["path"] == ready, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_executor_relaxes_proc_and_seccomp(overlay: str) -> None:
    for name, spec in all_workloads(overlay):
        if name == "Deployment/executor":
            continue
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        for container in containers(spec):
            assert container["securityContext"].get("procMount", "Default") == "Default", name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_executor_gets_what_bubblewrap_needs_and_no_more(overlay: str) -> None:
    spec = pod_template(find(build(overlay), "Deployment", "executor"))["spec"]
    assert spec["hostUsers"] is False, "an unmasked /proc needs the pod's own user namespace"
    profile = spec["securityContext"]["seccompProfile"]
    assert profile == {"type": "Localhost", "localhostProfile": EXECUTOR_SECCOMP}
    [container] = spec["containers"]
    assert nox_command(container) == "executor"
    assert container["securityContext"]["procMount"] == "Unmasked"


def test_executor_seccomp_profile_ships_with_the_repository() -> None:
    shipped = ROOT / "seccomp" / EXECUTOR_SECCOMP.split("/")[-1]
    assert shipped.is_file(), f"{shipped.relative_to(ROOT)} is what nodes install"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_executor_holds_no_database_or_cache_credentials(overlay: str) -> None:
    docs = build(overlay)
    [container] = pod_template(find(docs, "Deployment", "executor"))["spec"]["containers"]
    assert "envFrom" not in container, "the shared config would carry api settings"
    assert secret_refs(container) == {("nox-executor", "shared-secret")}
    names = {env["name"] for env in container["env"]}
    assert not names & {"NOX_DATABASE_URL", "NOX_REDIS_URL", "NOX_SECRET_KEY"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_migration_job_and_backup_cronjob_run_the_cli(overlay: str) -> None:
    docs = build(overlay)
    migrate = pod_template(find(docs, "Job", "nox-migrate"))["spec"]["containers"]
    backup = pod_template(find(docs, "CronJob", "nox-backup"))["spec"]["containers"]
    assert [c["args"] for c in migrate] == [["nox", "migrate"]]
    assert [c["args"] for c in backup] == [["nox", "backup"]]
    assert find(docs, "CronJob", "nox-backup")["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_is_expanded_into_a_command_line(overlay: str) -> None:
    """Kubernetes expands $(VAR) in command/args into the process argv, visible in ps."""
    for name, spec in all_workloads(overlay):
        for container in containers(spec):
            secret_vars = {e["name"] for e in container.get("env", []) if "valueFrom" in e}
            argv = " ".join([*container.get("command", []), *container.get("args", [])])
            probe = container.get("readinessProbe", {}).get("exec", {}).get("command", [])
            for var in secret_vars:
                assert f"$({var})" not in argv, f"{name}: {var} on the command line"
            assert " -a " not in " ".join(probe), f"{name}: a password in a probe's argv"
