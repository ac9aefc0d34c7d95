"""The cAdvisor stand-in (scripts/airgap/cadvisor: cAdvisor itself cannot be fetched here) on
the real engine, with compose.yaml's read-only mounts, beside a container that burns CPU and
holds memory, scraped by a real Prometheus with the shipped `cadvisor` job and container alerts.

Checks what the dashboard and rules rely on: the series with `name`, `image`, `id` and the
compose service label for a known container; CPU that grows while it burns; a working set
near `docker stats`; a container crash-looping in place under a restart policy: a new
`restartcount` label at each restart, the start time (the creation time, as cAdvisor reports
it) unchanged, and ContainerRestarting firing. The stand-in runs with compose.yaml's cAdvisor
command; loopback changes only: a static target and 1-second intervals.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Any

import pytest
import yaml

from tests.container.engine import REPO
from tests.container.swarm_support import PREFIX, docker, stand_in_env
from tests.e2e.test_prometheus_live import poll, query, running_prometheus
from tests.prereq import require_binary
from tests.support.net import free_port, wait_for_port
from tests.unit.promql_names import PROMETHEUS_DIR

pytestmark = pytest.mark.container
HINT = "run .ci/install-monitoring.sh (Debian prometheus)"
BURNER = f"{PREFIX}-cadvisor-burner"
CRASHER = f"{PREFIX}-cadvisor-crasher"  # exits after 2 s; `--restart always` brings it back
CRASH = "import time; time.sleep(2); raise SystemExit(1)"
STANDIN = f"{PREFIX}-cadvisor-standin"
HELD_MIB = 48
# holds HELD_MIB of touched memory, then spins
BURN = (
    f"b = bytearray({HELD_MIB} * 1024 * 1024)\n"
    "for i in range(0, len(b), 4096): b[i] = 1\n"
    "while True: pass"
)
# the volumes compose.yaml gives cAdvisor
MOUNTS = [
    "/:/rootfs:ro",
    "/var/run:/var/run:ro",
    "/sys:/sys:ro",
    "/var/lib/docker:/var/lib/docker:ro",
]


@pytest.fixture(scope="module")
def containers() -> Iterator[int]:
    images = stand_in_env()
    port = free_port()
    for name in (BURNER, CRASHER, STANDIN):
        docker("rm", "-f", name, check=False)
    command = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["cadvisor"]["command"]
    try:
        docker(
            "run", "-d", "--name", BURNER, "--memory", "128m", "--cpus", "0.5",
            "--label", "com.docker.compose.service=burner",
            images["PYTHON_IMAGE"], "python", "-c", BURN,
        )  # fmt: skip
        docker(
            "run", "-d", "--name", CRASHER, "--restart", "always",
            images["PYTHON_IMAGE"], "python", "-c", CRASH,
        )  # fmt: skip
        volumes = [arg for mount in MOUNTS for arg in ("-v", mount)]
        docker(
            "run", "-d", "--name", STANDIN, "--read-only",
            "--security-opt", "no-new-privileges:true",
            *volumes, "-p", f"127.0.0.1:{port}:8080", images["CADVISOR_IMAGE"], *command,
        )  # fmt: skip
        wait_for_port(port)
        yield port
    finally:
        for name in (BURNER, CRASHER, STANDIN):
            docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def prometheus(containers: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = require_binary("prometheus", HINT)
    workdir = tmp_path_factory.mktemp("prometheus")
    shipped = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    [job] = [j for j in shipped["scrape_configs"] if j["job_name"] == "cadvisor"]
    del job["dns_sd_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{containers}"]}]
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROMETHEUS_DIR / "rules" / "containers.yml")],
        "scrape_configs": [job],
    }
    with running_prometheus(binary, config, workdir) as url:
        yield url


def burner_series(prom: str, metric: str) -> dict[str, Any]:
    found = poll(metric, lambda: query(prom, f'{metric}{{job="cadvisor", name="{BURNER}"}}'))
    assert len(found) == 1, found
    series: dict[str, Any] = found[0]
    return series


def test_series_carry_the_labels_the_dashboard_and_rules_use(prometheus: str) -> None:
    burner_id = docker("inspect", "--format", "{{.Id}}", BURNER)
    python_image = stand_in_env()["PYTHON_IMAGE"]
    for metric in (
        "container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
        "container_spec_memory_limit_bytes", "container_start_time_seconds", "container_last_seen",
    ):  # fmt: skip
        labels = burner_series(prometheus, metric)["metric"]
        assert labels["id"] == f"/docker/{burner_id}", labels
        assert labels["image"] == python_image, labels
        assert labels["container_label_com_docker_compose_service"] == "burner", labels
    limit = burner_series(prometheus, "container_spec_memory_limit_bytes")
    assert float(limit["value"][1]) == 128 * 1024 * 1024


def test_cpu_grows_while_the_container_burns(prometheus: str) -> None:
    first = float(burner_series(prometheus, "container_cpu_usage_seconds_total")["value"][1])
    time.sleep(3)
    second = float(burner_series(prometheus, "container_cpu_usage_seconds_total")["value"][1])
    # --cpus 0.5: about 1.5 s of CPU in 3 s; at least a third of that
    assert second - first > 0.5, (first, second)
    rate = poll(
        "rate",
        lambda: query(
            prometheus, f'rate(container_cpu_usage_seconds_total{{name="{BURNER}"}}[5s])'
        ),
    )
    assert 0.2 < float(rate[0]["value"][1]) < 0.8, rate


def test_working_set_is_near_docker_stats(prometheus: str) -> None:
    working_set = float(burner_series(prometheus, "container_memory_working_set_bytes")["value"][1])
    stats = json.loads(docker("stats", "--no-stream", "--format", "{{json .}}", BURNER))
    used, _, _ = stats["MemUsage"].partition(" / ")
    assert used.endswith("MiB"), stats
    stats_bytes = float(used.removesuffix("MiB")) * 1024 * 1024
    assert working_set >= HELD_MIB * 1024 * 1024, working_set
    assert abs(working_set - stats_bytes) < 8 * 1024 * 1024, (working_set, stats_bytes)


def crasher_series(prom: str, metric: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = query(prom, f'{metric}{{job="cadvisor", name="{CRASHER}"}}')
    return found


def restart_counts(prom: str) -> set[str] | None:
    """The restart counts Prometheus has seen on the crasher, once there are three."""
    seen = query(prom, f'count_over_time(container_last_seen{{name="{CRASHER}"}}[5m])')
    counts = {s["metric"].get("container_label_restartcount", "") for s in seen} - {""}
    return counts if len(counts) >= 3 else None


def test_a_crash_loop_gets_a_restart_count_each_time_and_fires_container_restarting(
    prometheus: str,
) -> None:
    counts = poll("three restart counts", partial(restart_counts, prometheus), timeout_s=60)
    assert all(count.isdigit() and int(count) > 0 for count in counts), counts
    # the start time is the creation time, as cAdvisor's Docker handler reports it: one value
    # for every restart count
    starts = {s["value"][1] for s in crasher_series(prometheus, "container_start_time_seconds")}
    created = docker("inspect", "--format", "{{.Created}}", CRASHER)
    assert len(starts) == 1 and abs(float(starts.pop()) - _rfc3339(created)) < 1
    alerts = poll(
        "ContainerRestarting",
        lambda: query(
            prometheus,
            f'ALERTS{{alertname="ContainerRestarting", name="{CRASHER}", alertstate="firing"}}',
        ),
    )
    assert alerts[0]["metric"]["severity"] == "warning"
    # the burner, never restarted, carries no count and no alert
    assert (
        burner_series(prometheus, "container_last_seen")["metric"].get(
            "container_label_restartcount", ""
        )
        == ""
    )
    assert not query(prometheus, f'ALERTS{{alertname="ContainerRestarting", name="{BURNER}"}}')


def _rfc3339(text: str) -> float:
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]}+00:00").timestamp()
