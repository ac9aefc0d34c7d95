"""The GitHub Actions wrappers: valid, pinned, least-privileged, and calling real functions."""

from __future__ import annotations

import inspect
import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.pipeline.conftest import ROOT, load
from tests.prereq import require_binary

main = load("main")

WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
CD = WORKFLOWS / "cd.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load_workflow(path: Path) -> dict[str, Any]:
    doc: dict[Any, Any] = yaml.safe_load(path.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def dagger_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(doc) if s.get("uses", "").startswith("dagger/dagger-for-github@")]


def calls(doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    """`dagger call` lines by job: function name -> its --flags (chained calls dropped)."""
    found: dict[str, dict[str, str]] = {}
    for name, job in doc["jobs"].items():
        for step in job["steps"]:
            if "call" in step.get("with", {}):
                first = step["with"]["call"].split(" export ")[0]
                # `${{ x }}` -> `${{x}}`: one shell word per expression
                first = re.sub(r"\$\{\{\s*(.*?)\s*\}\}", r"${{\1}}", first)
                function, *flags = shlex.split(first)
                found[name] = {"function": function} | dict(
                    f[2:].split("=", 1) for f in flags if f.startswith("--")
                )
    return found


@pytest.mark.parametrize("path", [CI, CD], ids=["ci", "cd"])
def test_workflow_matches_the_github_schema(path: Path) -> None:
    checker = require_binary("check-jsonschema", "uv sync (dev group: check-jsonschema)")
    run = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    checker = require_binary("check-jsonschema", "uv sync (dev group: check-jsonschema)")
    broken = tmp_path / "broken.yml"
    broken.write_text(CI.read_text().replace("runs-on:", "runs:", 1))
    run = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode != 0


@pytest.mark.parametrize("path", [CI, CD], ids=["ci", "cd"])
def test_every_action_is_pinned_by_full_commit_sha(path: Path) -> None:
    uses = [s["uses"] for s in steps(load_workflow(path)) if "uses" in s]
    assert uses
    for ref in uses:
        assert PINNED.match(ref), f"{ref} is not pinned to a 40-hex commit"
    # The human-readable version sits next to each pin.
    for line in path.read_text().splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d", line), line


def test_ci_triggers_and_least_privilege() -> None:
    doc = load_workflow(CI)
    assert set(doc["on"]) == {"pull_request", "push"}
    assert doc["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in doc["jobs"].values())
    assert doc["concurrency"]["cancel-in-progress"] is True


def test_ci_runs_lint_test_scan_and_both_platform_builds() -> None:
    found = {job: c["function"] for job, c in calls(load_workflow(CI)).items()}
    assert found == {"lint": "lint", "test": "test", "scan": "scan", "build": "build"}
    assert calls(load_workflow(CI))["build"]["platforms"] == "linux/amd64,linux/arm64"


def test_cd_publishes_then_deploys_staging_then_gated_prod_by_digest() -> None:
    jobs = load_workflow(CD)["jobs"]
    assert jobs["deploy-staging"]["needs"] == "publish"
    assert jobs["approve-prod"]["needs"] == "deploy-staging"
    assert set(jobs["deploy-prod"]["needs"]) == {"publish", "approve-prod"}
    assert jobs["deploy-staging"]["environment"]["name"] == "staging"
    assert jobs["approve-prod"]["environment"]["name"] == "prod-approval"
    assert jobs["deploy-prod"]["environment"]["name"] == "prod"
    found = calls(load_workflow(CD))
    assert found["publish"]["function"] == "publish"
    for job, env in (("deploy-staging", "staging"), ("deploy-prod", "prod")):
        assert found[job]["function"] == "deploy"
        assert found[job]["env"] == env
        assert found[job]["image"] == "${{needs.publish.outputs.image}}"
    assert jobs["publish"]["outputs"]["image"] == "${{ steps.digest.outputs.image }}"


def test_cd_runs_only_after_ci_passed_for_that_same_commit() -> None:
    doc = load_workflow(CD)
    assert doc["on"] == {"workflow_run": {"workflows": ["ci"], "types": ["completed"]}}
    gate = doc["jobs"]["publish"]["if"]
    assert "github.event.workflow_run.conclusion == 'success'" in gate
    assert "github.event.workflow_run.event == 'push'" in gate  # never a pull request's code
    assert load_workflow(CI)["name"] == "ci"
    assert set(load_workflow(CI)["on"]["push"]) == {"branches", "tags"}  # CD's triggers pass CI
    for name, job in doc["jobs"].items():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}", name
    # Everything else waits for publish, so nothing deploys a commit CI did not pass.
    needs = {n: j.get("needs", []) for n, j in doc["jobs"].items()}
    assert [n for n, need in needs.items() if not need] == ["publish"]


def test_no_concurrency_group_is_held_while_prod_waits_for_approval() -> None:
    doc = load_workflow(CD)
    assert "concurrency" not in doc
    for name, job in doc["jobs"].items():
        if job.get("environment", {}).get("name") == "prod-approval":
            assert "concurrency" not in job, name
        if name.startswith("deploy"):
            assert job["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize("job", ["test", "scan"])
def test_reports_are_uploaded_before_the_outcome_fails_the_job(job: str) -> None:
    job_steps = load_workflow(CI)["jobs"][job]["steps"]
    names = [s.get("uses", s.get("name", "")).split("@")[0] for s in job_steps]
    upload = names.index("actions/upload-artifact")
    assert job_steps[upload]["if"] == "always()"
    assert names.index("outcome") > upload
    assert "grep -qx passed reports/outcome" in job_steps[names.index("outcome")]["run"]


def test_cd_grants_package_writes_only_to_publish() -> None:
    doc = load_workflow(CD)
    assert doc["permissions"] == {}
    for name, job in doc["jobs"].items():
        expected = (
            {"contents": "read", "packages": "write"} if name == "publish" else {"contents": "read"}
        )
        assert job["permissions"] == expected, name


@pytest.mark.parametrize("path", [CI, CD], ids=["ci", "cd"])
def test_secrets_reach_dagger_only_as_env_references(path: Path) -> None:
    for step in dagger_steps(load_workflow(path)):
        call = step["with"]["call"]
        assert "secrets." not in call, call
        for flag in ("password", "kubeconfig", "ssh-key", "registry-password", "load-tokens"):
            value = re.search(rf"--{flag}=(\S+)", call)
            assert value is None or value.group(1).startswith("env://"), call


def test_each_deploy_gets_the_credentials_its_environment_names() -> None:
    """Every env:// credential deploy/environments.toml names for an environment (the load
    gate's users included) is set from a secret on that environment's deploy step."""
    environments = load("environments")
    config = environments.parse((ROOT / environments.CONFIG_PATH).read_text())
    jobs = load_workflow(CD)["jobs"]
    for job, env in (("deploy-staging", "staging"), ("deploy-prod", "prod")):
        (step,) = [s for s in jobs[job]["steps"] if "call" in s.get("with", {})]
        named = config.environment(env).credentials() | config.environment(env).gate_credentials()
        variables = {ref.removeprefix("env://") for ref in named.values()}
        for variable in variables:
            assert re.fullmatch(r"\$\{\{ secrets\.\w+ \}\}", step["env"].get(variable, "")), (
                job,
                variable,
            )
    staging = jobs["deploy-staging"]["steps"][-1]["env"]
    assert staging["NOX_LOAD_TOKENS"] == "${{ secrets.LOAD_TOKENS }}"


@pytest.mark.parametrize("path", [CI, CD], ids=["ci", "cd"])
def test_dagger_version_is_the_engine_version(path: Path) -> None:
    engine = json.loads((ROOT / "dagger.json").read_text())["engineVersion"]
    doc = load_workflow(path)
    assert doc["env"]["DAGGER_VERSION"] == engine.removeprefix("v")
    for step in dagger_steps(doc):
        assert step["with"]["version"] == "${{ env.DAGGER_VERSION }}"


@pytest.mark.parametrize("path", [CI, CD], ids=["ci", "cd"])
def test_calls_name_real_functions_and_arguments(path: Path) -> None:
    for job, call in calls(load_workflow(path)).items():
        method = getattr(main.NoxCi, call["function"])
        params = set(inspect.signature(method).parameters) - {"self"}
        flags = {f.replace("-", "_") for f in call if f != "function"}
        assert flags <= params, f"{job}: unknown flags {flags - params}"


@pytest.mark.parametrize("path", [CI, CD], ids=["ci", "cd"])
def test_run_scripts_are_shellcheck_clean_and_take_no_expressions(
    path: Path, tmp_path: Path
) -> None:
    scripts = [s["run"] for s in steps(load_workflow(path)) if "run" in s]
    shellcheck = require_binary("shellcheck", "apt-get install shellcheck")
    for i, script in enumerate(scripts):
        # Expressions inside `run` are a script-injection path: values go through env.
        assert "${{" not in script, script
        file = tmp_path / f"step{i}.sh"
        file.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + script)
        run = subprocess.run([shellcheck, str(file)], capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stdout
