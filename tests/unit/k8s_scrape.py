"""monitoring/prometheus/kubernetes.yml with Kubernetes discovery swapped for files.

Debian's Prometheus and promtool are built without Kubernetes service discovery. Each
``kubernetes_sd_configs`` is checked by its shape and replaced by a ``file_sd_configs`` whose
file (``<role>.json``) can hold targets with the same ``__meta_kubernetes_*`` labels the API
server would give, so the relabelling runs as shipped; the service-account files a pod would
have are stand-ins under ``workdir`` unless the caller put real ones there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.unit.promql_names import PROMETHEUS_DIR

K8S_SCRAPE = PROMETHEUS_DIR / "kubernetes.yml"
ROLES = ("pod", "node")


def with_file_discovery(workdir: Path) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(K8S_SCRAPE.read_text())
    for job in config["scrape_configs"]:
        for sd in job.pop("kubernetes_sd_configs", []):
            assert set(sd) == {"role"} and sd["role"] in ROLES, job["job_name"]
            job["file_sd_configs"] = [{"files": [str(workdir / f"{sd['role']}.json")]}]
        if "ca_file" in job.get("tls_config", {}):
            job["tls_config"]["ca_file"] = str(workdir / "ca.crt")
        if "credentials_file" in job.get("authorization", {}):
            job["authorization"]["credentials_file"] = str(workdir / "token")
    config["rule_files"] = [str(PROMETHEUS_DIR / pattern) for pattern in config["rule_files"]]
    for role in ROLES:
        if not (workdir / f"{role}.json").exists():
            (workdir / f"{role}.json").write_text("[]")
    for name, stand_in in (("ca.crt", ""), ("token", "stand-in\n")):
        if not (workdir / name).exists():
            (workdir / name).write_text(stand_in)
    return config
