"""The module's facts match their sources: settings, Dockerfile, compose, the OIDC peer, tests."""

from __future__ import annotations

import re
import tomllib

import pytest

from app import settings
from tests.pipeline.conftest import ROOT, load

facts = load("facts")
images = load("images")
services = load("services")
suite = load("suite")

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def dockerfile_stages() -> dict[str, str]:
    """`FROM <image> AS <target>` lines, by target."""
    found = re.findall(r"^FROM\s+(\S+)\s+AS\s+(\S+)\s*$", DOCKERFILE, re.MULTILINE | re.IGNORECASE)
    return {target: image for image, target in found}


def stage_text(target: str) -> str:
    """The lines of one stage, up to the next FROM."""
    match = re.search(rf"^FROM\s+\S+\s+AS\s+{target}\s*$(.*?)(?=^FROM\s|\Z)", DOCKERFILE,
                      re.MULTILINE | re.DOTALL | re.IGNORECASE)  # fmt: skip
    assert match, f"no stage {target} in the Dockerfile"
    return match.group(1)


def test_ports_and_env_prefix_match_app_settings() -> None:
    assert facts.API_PORT == settings.API_PORT
    assert facts.EXECUTOR_PORT == settings.EXECUTOR_PORT
    assert facts.ENV_PREFIX == settings.ENV_PREFIX
    assert suite.TEST_POSTGRES_ENV.startswith(settings.ENV_PREFIX)


def test_the_oidc_redirect_uri_targets_the_api_port() -> None:
    assert f":{settings.API_PORT}/api/v7/auth/callback/" in services.OIDC_REDIRECT_URI


def test_dockerfile_targets_the_module_builds_exist() -> None:
    stages = dockerfile_stages()
    assert facts.TEST_TARGET in stages
    assert facts.RUNTIME_TARGET in stages


def test_runtime_stage_exposes_the_api_port() -> None:
    exposed = re.findall(r"^EXPOSE\s+(.+)$", stage_text(facts.RUNTIME_TARGET), re.MULTILINE)
    assert str(settings.API_PORT) in " ".join(exposed).split()


def test_build_arguments_the_module_passes_are_declared() -> None:
    assert re.search(r"^ARG REVISION\b", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^ARG TEST_ARGS\b", stage_text(facts.TEST_TARGET), re.MULTILINE)
    assert "${TEST_ARGS}" in stage_text(facts.TEST_TARGET)


def test_test_stage_works_in_the_directory_the_module_puts_node_modules_beside() -> None:
    workdirs = re.findall(r"^WORKDIR\s+(\S+)", DOCKERFILE, re.MULTILINE)
    assert workdirs and workdirs[-1] == suite.APP_DIR


def compose_default_image(variable: str) -> str | None:
    """The default of `${VARIABLE:-image}` in compose.yaml, the production-like stack."""
    compose = ROOT / "compose.yaml"
    if not compose.exists():
        return None
    found = re.search(rf"\$\{{{variable}:-([^}}]+)\}}", compose.read_text())
    return found.group(1) if found else None


@pytest.mark.parametrize(
    ("variable", "pinned"),
    [("POSTGRES_IMAGE", facts.POSTGRES_IMAGE), ("REDIS_IMAGE", facts.REDIS_IMAGE)],
)
def test_service_images_are_the_ones_compose_runs(variable: str, pinned: str) -> None:
    """Same repository and tag as compose's default; the module adds the digest."""
    default = compose_default_image(variable)
    assert default is not None, f"compose.yaml takes {variable} with a default image"
    assert pinned.split("@")[0] == default.split("@")[0]


def test_python_image_is_the_dockerfile_default_base() -> None:
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE, re.MULTILINE)
    assert default, "the Dockerfile takes its base image as PYTHON_IMAGE"
    assert facts.PYTHON_IMAGE.split("@")[0] == default.group(1).split("@")[0]


def test_uv_is_the_version_the_dockerfile_installs() -> None:
    pinned = re.search(r"^ARG UV_VERSION=(\S+)", DOCKERFILE, re.MULTILINE)
    assert pinned and pinned.group(1) == facts.UV_VERSION


def test_the_module_runtime_itself_runs_on_the_pinned_python_image() -> None:
    config = tomllib.loads((ROOT / "ci" / "pyproject.toml").read_text())
    base = config["tool"]["dagger"]["base-image"]
    assert base == facts.PYTHON_IMAGE and re.search(r"@sha256:[0-9a-f]{64}$", base)


def test_every_third_party_image_is_pinned_by_digest() -> None:
    pinned = [v for k, v in vars(facts).items() if k.endswith("_IMAGE")]
    assert len(pinned) >= 7
    for image in pinned:
        assert re.search(r"@sha256:[0-9a-f]{64}$", image), image


def test_oidc_peer_reads_the_variables_the_service_sets() -> None:
    script = (ROOT / services.OIDC_SCRIPT).read_text()
    for name in ("OIDC_HOST", "OIDC_PORT", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_REDIRECT_URIS"):
        assert f"process.env.{name}" in script, name


def test_npm_lock_the_services_install_from_exists() -> None:
    assert (ROOT / "package.json").is_file() and (ROOT / "package-lock.json").is_file()


def test_test_fixtures_read_the_service_addresses_the_module_sets() -> None:
    """tests/ uses the bound services when these are set, instead of starting its own."""
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py")
                        if "pipeline" not in p.parts)  # fmt: skip
    for name in (suite.TEST_POSTGRES_ENV, suite.TEST_REDIS_ENV):
        assert name in sources, f"no fixture reads {name}"


def test_module_and_root_pin_the_same_sdk() -> None:
    pin = re.compile(r'"dagger-io==([0-9.]+)"')
    module = pin.findall((ROOT / "ci" / "pyproject.toml").read_text())
    root = pin.findall((ROOT / "pyproject.toml").read_text())
    engine = re.search(r'"engineVersion":\s*"v([0-9.]+)"', (ROOT / "dagger.json").read_text())
    assert engine and module == root == [engine.group(1)]
    assert engine.group(1).startswith("0.21.")


def test_module_lock_resolves_the_pinned_sdk() -> None:
    lock = (ROOT / "ci" / "uv.lock").read_text()
    block = re.search(r'\[\[package\]\]\nname = "dagger-io"\nversion = "([0-9.]+)"', lock)
    assert block and f'"dagger-io=={block.group(1)}"' in (ROOT / "ci/pyproject.toml").read_text()
