"""Point-in-time recovery is wired the same way in compose, Swarm and Kubernetes: the
scheduler runs the pgBackRest image beside PostgreSQL on the same data directory, socket,
repository and cipher secret. (The compose wiring also runs for real: test_stack_pitr.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.k8s_manifests import OVERLAYS, build, containers, env_value, find, pod_template

ROOT = Path(__file__).resolve().parents[2]
CONF_D = "/etc/pgbackrest/conf.d"
REPO_PATH = "/var/lib/pgbackrest"


def _mounts(service: dict[str, Any]) -> set[str]:
    found = set()
    for volume in service["volumes"]:
        if isinstance(volume, str):
            found.add(volume)
        elif volume.get("type") != "tmpfs":
            found.add(f"{volume['source']}:{volume['target']}")
    return found


@pytest.mark.parametrize("path", ["compose.yaml", "swarm/pitr.yaml"])
def test_scheduler_shares_postgres_data_socket_repository_and_cipher(path: str) -> None:
    services = yaml.safe_load((ROOT / path).read_text())["services"]
    postgres, scheduler = services["postgres"], services["pitr-backup"]
    assert scheduler["image"] == postgres["image"]
    assert scheduler["entrypoint"] == ["nox-pitr-backup"]
    assert scheduler["command"][0] == "--every"
    assert _mounts(scheduler) == _mounts(postgres)
    assert any(m.endswith(f":{REPO_PATH}") for m in _mounts(postgres))
    assert scheduler["user"] == "999:999"  # the data directory's owner in the image

    def cipher(service: dict[str, Any]) -> list[Any]:
        return [
            s for s in service["secrets"] if isinstance(s, dict) and s["source"] == "pitr_cipher"
        ]

    assert cipher(scheduler) == cipher(postgres)
    assert cipher(postgres)[0]["target"] == f"{CONF_D}/cipher.conf"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_cronjob_runs_beside_the_postgres_statefulset(overlay: str) -> None:
    docs = build(overlay)
    sts = find(docs, "StatefulSet", "postgres")
    cron = find(docs, "CronJob", "nox-pitr-backup")
    assert cron["metadata"].get("namespace") == sts["metadata"].get("namespace")
    pg_pod, job_pod = pod_template(sts), pod_template(cron)
    (pg,) = containers(pg_pod["spec"])
    (job,) = containers(job_pod["spec"])
    assert job["image"] == pg["image"] and "nox-postgres" in pg["image"]
    # the StatefulSet's own claim, on its node (ReadWriteOnce), through its data socket
    claim = f"{sts['spec']['volumeClaimTemplates'][0]['metadata']['name']}-postgres-0"
    claims = {v["name"]: v for v in job_pod["spec"]["volumes"]}
    assert claims["data"]["persistentVolumeClaim"]["claimName"] == claim
    affinity = job_pod["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    selector = affinity[0]["labelSelector"]["matchLabels"]
    assert selector.items() <= pg_pod["metadata"]["labels"].items()
    assert env_value(job, "PGBACKREST_PG1_PATH", docs) == env_value(pg, "PGDATA", docs)
    assert env_value(job, "PGBACKREST_PG1_SOCKET_PATH", docs) == env_value(
        pg, "PITR_SOCKET_DIR", docs
    )
    # the same repository claim and cipher Secret in both pods
    pg_volumes = {v["name"]: v for v in pg_pod["spec"]["volumes"]}
    assert (
        pg_volumes["pitr-repo"]["persistentVolumeClaim"] == claims["repo"]["persistentVolumeClaim"]
    )
    assert (
        pg_volumes["pitr-cipher"]["secret"]["secretName"]
        == claims["cipher"]["secret"]["secretName"]
    )
    for container in (pg, job):
        paths = {m["mountPath"] for m in container["volumeMounts"]}
        assert {CONF_D, REPO_PATH} <= paths
