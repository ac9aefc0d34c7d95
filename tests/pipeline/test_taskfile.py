"""Taskfile.yml: the pipeline tasks wrap real `dagger call`s; local and pipeline share commands."""

from __future__ import annotations

import inspect
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.pipeline import graph
from tests.pipeline.conftest import ROOT, load
from tests.prereq import require_binary

main = load("main")
suite = load("suite")
toolbox = load("toolbox")

TASKFILE: dict[str, Any] = yaml.safe_load((ROOT / "Taskfile.yml").read_text())
TASKS: dict[str, Any] = TASKFILE["tasks"]

PIPELINE_RUNS = {
    "pipeline:lint": {},
    "pipeline:test": {},
    "pipeline:scan": {},
    "pipeline:build": {},
    "pipeline:publish": {},
    "pipeline:deploy": {"ENV": "staging", "IMAGE": "ghcr.io/acme/nox@sha256:" + "a" * 64},
    "pipeline:rollback": {"ENV": "prod"},
    "pipeline:smoke": {"URL": "https://nox.example"},
}  # fmt: skip


def commands(task: str) -> list[str]:
    return [
        c if isinstance(c, str) else c.get("task") or c.get("cmd", "") for c in TASKS[task]["cmds"]
    ]


def subtasks(task: str) -> list[str]:
    """The tasks ``task`` runs, directly or as a timed phase (``scripts/phase.sh NAME task X``)."""
    found = []
    for c in commands(task):
        words = c.split()
        if words[:1] == ["scripts/phase.sh"] and words[2:3] == ["task"]:
            found.append(words[3])
        elif len(words) == 1:
            found.append(c)
    return found


def test_test_task_times_each_phase() -> None:
    """`.ci/run` prints install, lint, pytest and coverage timings: each is a phase."""
    assert subtasks("test") == ["lint", "test:pytest", "coverage"]
    assert all(c.startswith("scripts/phase.sh ") for c in commands("test"))


def test_lint_runs_every_validator_the_issue_names() -> None:
    subtasks = {c for c in commands("lint") if c.startswith("lint:")}
    assert subtasks == {"lint:ci", "lint:docker", "lint:shell", "lint:workflows", "lint:k8s",
                        "lint:monitoring"}  # fmt: skip
    text = "\n".join(c for t in subtasks for c in commands(t))
    for tool in ("ruff", "mypy", "hadolint", "shellcheck", "check-jsonschema",
                 "kubectl kustomize", "kubernetes-validate --strict", "promtool check",
                 "promtool test rules", "amtool check-config"):  # fmt: skip
        assert tool in text, tool
    assert TASKS["lint:ci"]["dir"] == "ci"  # the module's own ruff/mypy config


def test_pipeline_runs_the_same_tasks_a_laptop_runs() -> None:
    """`dagger call lint` runs `task lint`; `dagger call test` runs `task test:pytest`."""
    from dagger import dag

    assert graph.execs(toolbox.lint_container(dag.directory()))[-1] == ["task", "lint"]
    pytest_task = graph.execs(suite.suite_container(dag.directory()))[-1]
    assert pytest_task[:3] == ["task", "--exit-code", "test:pytest"]
    assert "test:pytest" in subtasks("test")  # `task test` = lint + the same pytest task
    (invocation,) = [c for c in commands("test:pytest") if "pytest" in c]
    assert "--junitxml={{.JUNIT}}" in invocation and "{{.CLI_ARGS}}" in invocation


@pytest.fixture(scope="module")
def recorded_calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Runs each pipeline task with a stand-in `dagger` CLI that only records its argv (no
    engine can run here)."""
    task = require_binary("task", "uv sync (dev group: go-task-bin)")
    bin_dir = tmp_path_factory.mktemp("fake-dagger")
    log = bin_dir / "calls.log"
    fake = bin_dir / "dagger"
    # Like the real CLI, an exported report directory holds the gate's outcome.
    fake.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> {shlex.quote(str(log))}\n'
        'for a in "$@"; do case "$a" in --path=*) d="${a#--path=}";'
        ' mkdir -p "$d" && echo passed > "$d/outcome";; esac; done\n'
    )
    fake.chmod(0o755)
    env = os.environ | {"PATH": f"{bin_dir}:{os.environ['PATH']}", "REGISTRY_TOKEN": "unused"}
    found: dict[str, list[str]] = {}
    for name, variables in PIPELINE_RUNS.items():
        log.write_text("")
        argv = [task, name, *(f"{k}={v}" for k, v in variables.items())]
        run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr
        found[name] = shlex.split(log.read_text())
    return found


def test_every_pipeline_task_is_listed() -> None:
    assert {t for t in TASKS if t.startswith("pipeline:") and not TASKS[t].get("internal")} == set(
        PIPELINE_RUNS
    )


@pytest.mark.parametrize("task", sorted(PIPELINE_RUNS))
def test_pipeline_task_calls_a_real_function_with_real_flags(
    task: str, recorded_calls: dict[str, list[str]]
) -> None:
    argv = recorded_calls[task]
    assert argv[0] == "call"
    function = argv[1]
    assert function == task.removeprefix("pipeline:")
    own = argv[2 : argv.index("export")] if "export" in argv else argv[2:]
    flags = {a[2:].split("=", 1)[0].replace("-", "_") for a in own}
    params = set(inspect.signature(getattr(main.NoxCi, function)).parameters) - {"self"}
    assert flags <= params, flags - params


def test_the_brief_commands_need_no_flags_beyond_the_environment(
    recorded_calls: dict[str, list[str]],
) -> None:
    """Credentials, targets and URLs come from deploy/environments.toml, not from flags."""
    assert recorded_calls["pipeline:rollback"] == ["call", "rollback", "--env=prod"]
    assert recorded_calls["pipeline:deploy"][:3] == ["call", "deploy", "--env=staging"]
    publish = recorded_calls["pipeline:publish"]
    assert publish[:2] == ["call", "publish"] and publish[2].startswith("--revision=")
    assert len(publish[2].removeprefix("--revision=")) == 40  # the commit, as CD passes it


def test_pipeline_tasks_say_what_to_install_without_the_cli(tmp_path: Path) -> None:
    task = require_binary("task", "uv sync (dev group: go-task-bin)")
    env = os.environ | {"PATH": str(Path(task).parent) + ":/usr/bin:/bin"}
    run = subprocess.run([task, "pipeline:lint"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert run.returncode != 0
    assert "install the Dagger CLI v0.21." in run.stderr
