"""Swarm overlays (deploy/overlays.py) and the log collection files they deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import executor
from deploy.__main__ import main
from deploy.overlays import OVERLAYS, VARIABLE, OverlayError, chosen
from deploy.swarm import Swarm

REPO = Path(__file__).resolve().parents[2]
SWARM = REPO / "swarm"


def load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_overlays_are_read_from_one_setting_in_the_order_given_once_each() -> None:
    picked = chosen({VARIABLE: " logs, pitr ,logs", "POSTGRES_PITR_IMAGE": "pg@sha256:1"})
    assert [o.name for o in picked] == ["logs", "pitr"]
    assert chosen({}) == () and chosen({VARIABLE: ""}) == ()


def test_an_unknown_overlay_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(OverlayError, match=r"unknown overlay 'log'.*known: logs, monitoring, pitr"):
        chosen({VARIABLE: "log"})


def test_an_overlay_without_its_variables_is_refused() -> None:
    with pytest.raises(OverlayError, match="set POSTGRES_PITR_IMAGE"):
        chosen({VARIABLE: "pitr"})


def test_deploy_refuses_an_unknown_overlay_before_calling_docker(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(VARIABLE, "logs,loki")
    monkeypatch.setenv("DOCKER", str(tmp_path / "no-docker-may-run"))  # any call would raise
    code = main(["deploy", "--target", "swarm", "--env", "t", "--image", "i", "--state-dir", "s"])
    assert code == 1
    assert "unknown overlay 'loki'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(OVERLAYS))
def test_every_overlay_file_and_config_exists(name: str) -> None:
    overlay = OVERLAYS[name]
    for file in overlay.merged:
        assert (SWARM / file).is_file(), file
    for companion in (overlay.before, overlay.after):
        if companion:
            assert (SWARM / companion.file).is_file(), companion.file
            # every Docker config of its stack is in the checksum that names the configs
            configs = load(SWARM / companion.file).get("configs", {})
            files = {(SWARM / c["file"]).resolve() for c in configs.values()}
            assert files == {REPO / path for path in companion.configs}


def test_the_collector_runs_the_compose_files_on_every_node_reachable_from_its_host_only() -> None:
    compose = load(REPO / "compose.logs.yaml")["services"]["logs"]
    logs = load(SWARM / "logs.yaml")
    collector = logs["services"]["logs"]
    assert collector["image"] == compose["image"]  # the same default image
    assert collector["entrypoint"] == compose["entrypoint"]
    assert collector["deploy"]["mode"] == "global"
    assert logs["networks"][collector["networks"][0]]["name"] == "host"
    assert collector["environment"]["LOGS_LISTEN"] == "127.0.0.1" and "ports" not in collector
    assert collector["read_only"] and collector["cap_drop"] == ["ALL"]
    assert collector["deploy"]["resources"]["limits"]["memory"]
    assert collector["environment"]["LOGS_RETENTION_DAYS"] == "${LOGS_RETENTION_DAYS:-14}"


def test_the_api_ships_to_the_port_the_collector_listens_on() -> None:
    collector = load(SWARM / "logs.yaml")["services"]["logs"]
    [service] = load(SWARM / "logs-shipping.yaml")["services"].values()
    logging = service["logging"]
    port = collector["environment"]["LOGS_PORT"]
    assert logging["driver"] == "syslog"
    assert logging["options"] == {
        "syslog-address": f"tcp://127.0.0.1:{port}",
        "syslog-format": "rfc5424",
        "tag": "api",
    }


def test_the_executor_takes_the_api_log_driver_with_its_own_tag() -> None:
    driver: dict[str, object] = {
        "Name": "syslog",
        "Options": {"syslog-address": "tcp://127.0.0.1:5514", "tag": "api"},
    }
    args = executor.run_args(stack="s", image="i", name="n", env_file=Path("/x"), logging=driver)
    assert args[: args.index("--label")] == [
        "run",
        "--log-driver", "syslog",
        "--log-opt", "syslog-address=tcp://127.0.0.1:5514",
        "--log-opt", "tag=executor",
    ]  # fmt: skip
    assert args.index("--log-driver") < args.index("i")  # options before the image
    label = executor.logging_label(driver)
    assert f"nox.logging={label}" in args and " " not in label
    assert executor.log_args(None) == []


class RecordingSwarm(Swarm):
    """A FAKE engine behind the real Swarm target: records each docker call and answers
    just enough (every stack listed, every service running, nothing left to wait for)."""

    calls: list[list[str]]

    def run(self, *args: str, env: dict[str, str] | None = None) -> str:
        self.calls.append([*args, *(["NOX_CONFIG_REV=" + env["NOX_CONFIG_REV"]] if env else [])])
        answers: dict[tuple[str, ...], str] = {
            ("stack", "ls"): f"{self.stack}\n{self.stack}-logs\n{self.stack}-exporters",
            ("stack", "services"): f"{self.stack}-logs_logs",
            ("service", "ls"): "1/1",
        }
        return answers.get(args[:2], "")

    def inspect(self, service: str, template: str) -> str | None:
        return None


def recording(monkeypatch: pytest.MonkeyPatch, names: str) -> RecordingSwarm:
    overlays = chosen({VARIABLE: names, "POSTGRES_PITR_IMAGE": "pg"})
    swarm = RecordingSwarm(stack="s", stack_file=SWARM / "stack.yaml", overlays=overlays)
    object.__setattr__(swarm, "calls", [])
    monkeypatch.setattr(
        executor, "remove_all", lambda docker, stack: swarm.calls.append(["executor rm"])
    )
    return swarm


def test_the_collector_stack_runs_before_the_app_stack_is_deployed_with_the_overlay_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    swarm = recording(monkeypatch, "logs,pitr,monitoring")
    swarm.stack_deploy(image="i", migrate_image="i", edge_image="e", replicas=1)
    deploys = [c for c in swarm.calls if c[:2] == ["stack", "deploy"]]
    collector = OVERLAYS["logs"].before
    assert collector is not None
    logs_rev = collector.config_rev()
    assert deploys[0][-4:-1] == ["-c", str(SWARM / "logs.yaml"), "s-logs"]
    assert deploys[0][-1] == f"NOX_CONFIG_REV={logs_rev}"
    # waited for the collector between the two deploys
    between = swarm.calls[swarm.calls.index(deploys[0]) : swarm.calls.index(deploys[1])]
    assert ["service", "ls", "--filter", "name=s-logs_logs", "--format", "{{.Replicas}}"] in between
    files = [deploys[1][i + 1] for i, arg in enumerate(deploys[1]) if arg == "-c"]
    assert files == [str(SWARM / f) for f in ("stack.yaml", "logs-shipping.yaml", "pitr.yaml")]
    assert deploys[1][-2] == "s" and len(deploys) == 2  # the exporters come after the rollout


def test_remove_takes_the_exporters_first_and_the_collector_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    swarm = recording(monkeypatch, "")  # whatever is chosen now, every overlay stack goes
    swarm.remove()
    removed = [c for c in swarm.calls if c[:2] == ["stack", "rm"] or c == ["executor rm"]]
    order = [c[-1] for c in removed]
    assert order == ["s-exporters", "executor rm", "s", "s-logs"]
