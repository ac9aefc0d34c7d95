"""swarm/pitr.yaml on a real single-node swarm: PostgreSQL from the pgBackRest image and the
pitr-backup service beside it (shared data volume, socket volume, repository volume, cipher
secret at an absolute target). Only the two services PITR concerns are deployed, merged from
swarm/stack.yaml and swarm/pitr.yaml the way `docker stack deploy -c A -c B` merges them (B's
keys replace A's); the rest of the stack is proven by the other Swarm tests.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.container.engine import wait_for
from tests.container.swarm_support import REPO, docker, swarm_node, task_logs

pytestmark = [pytest.mark.container, pytest.mark.swarm]


def merged_stack() -> dict[str, Any]:
    base = yaml.safe_load((REPO / "swarm" / "stack.yaml").read_text())
    over = yaml.safe_load((REPO / "swarm" / "pitr.yaml").read_text())
    postgres = {**base["services"]["postgres"], **over["services"]["postgres"]}
    postgres["environment"] = {
        **base["services"]["postgres"]["environment"],
        **over["services"]["postgres"]["environment"],
    }
    return {
        "version": base["version"],
        "services": {"postgres": postgres, "pitr-backup": over["services"]["pitr-backup"]},
        "networks": {"backend": base["networks"]["backend"]},
        "volumes": {**base["volumes"], **over["volumes"]},
        "secrets": {
            "postgres_password": base["secrets"]["postgres_password"],
            "pitr_cipher": over["secrets"]["pitr_cipher"],
        },
    }


class PitrStack:
    def __init__(self, name: str) -> None:
        self.name = name

    def container(self, service: str) -> str:
        label = f"label=com.docker.swarm.service.name={self.name}_{service}"
        found = docker("ps", "-q", "--filter", label).split()
        return found[0] if found else ""

    def psql(self, query: str) -> str:
        return docker(
            "exec", "-u", "postgres", self.container("postgres"),
            "psql", "-XAtq", "-U", "nox", "-d", "nox", "-c", query,
        )  # fmt: skip


@pytest.fixture(scope="module")
def pitr_swarm(
    postgres_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PitrStack]:
    with swarm_node():
        name = f"{os.environ.get('NOX_CTR_PREFIX', 'nox-ctr')}-pitrsw-{uuid.uuid4().hex[:6]}"
        tmp = tmp_path_factory.mktemp("swarm-pitr")
        stack_file = tmp / "stack.yaml"
        stack_file.write_text(yaml.safe_dump(merged_stack(), sort_keys=False))
        cipher = tmp / "cipher.conf"
        cipher.write_text(
            f"[global]\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass={secrets.token_hex(32)}\n"
        )
        docker("secret", "create", f"{name}-postgres-password", "-", input_=secrets.token_hex(16))
        docker("secret", "create", f"{name}-pitr-cipher", str(cipher))
        env = {
            **os.environ,
            "NOX_SECRETS": name,
            "POSTGRES_PITR_IMAGE": postgres_image,
            "NOX_PITR_ARCHIVE_TIMEOUT_S": "5",
        }
        try:
            deployed = subprocess.run(
                ["docker", "stack", "deploy", "--resolve-image", "never",
                 "-c", str(stack_file), name],
                capture_output=True, text=True, env=env, check=False, timeout=300,
            )  # fmt: skip
            assert deployed.returncode == 0, deployed.stderr
            yield PitrStack(name)
        finally:
            docker("stack", "rm", name, check=False)
            label = f"label=com.docker.stack.namespace={name}"
            wait_for(lambda: not docker("ps", "-aq", "--filter", label), 120, "stack removed")
            for volume in docker("volume", "ls", "-q", "--filter", label).split():
                docker("volume", "rm", volume, check=False)
            docker("secret", "rm", f"{name}-postgres-password", f"{name}-pitr-cipher", check=False)


def test_scheduler_backs_up_and_postgres_archives_into_the_repository(
    pitr_swarm: PitrStack,
) -> None:
    def full_backup_in_repository() -> bool:
        cid = pitr_swarm.container("postgres")
        if not cid:
            return False
        listed = docker(
            "exec", "-u", "postgres", cid, "ls", "/var/lib/pgbackrest/backup/nox", check=False
        )
        return any(entry.endswith("F") for entry in listed.split())

    try:
        wait_for(full_backup_in_repository, 240, "the first full backup in the repository volume")
    except AssertionError:
        pytest.fail(task_logs(f"{pitr_swarm.name}_pitr-backup")[-4000:])
    info = docker("exec", "-u", "postgres", pitr_swarm.container("postgres"), "head", "-c", "8",
                  "/var/lib/pgbackrest/backup/nox/backup.info")  # fmt: skip
    assert info == "Salted__"  # encrypted with the secret's cipher
    pitr_swarm.psql("CREATE TABLE probe AS SELECT 1 AS v")
    segment = pitr_swarm.psql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
    started = time.monotonic()
    wait_for(
        lambda: (
            pitr_swarm.psql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
            >= segment
        ),
        60,
        f"segment {segment} archived",
    )
    assert time.monotonic() - started <= 5 + 10
    assert pitr_swarm.psql("SELECT failed_count FROM pg_stat_archiver") == "0"
