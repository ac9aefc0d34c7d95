"""`build`, `publish` and `scan` build the intended graphs: targets, platforms, digests, Trivy."""

from __future__ import annotations

import asyncio
from typing import Any

import dagger
import pytest
from dagger import dag

from tests.pipeline import graph
from tests.pipeline.conftest import ROOT, load
from tests.pipeline.engine_fakes import FakeEngine

facts = load("facts")
images = load("images")
scanning = load("scanning")
main = load("main")

DIGEST = "sha256:" + "ab" * 32


def build_of(variant: Any) -> dict[str, Any]:
    return graph.one(variant, "dockerBuild")


def test_build_archives_amd64_and_arm64_runtime_variants() -> None:
    archive = main.NoxCi(source=dag.directory()).build()
    variants = graph.one(archive, "asTarball")["platformVariants"]
    assert [build_of(v)["platform"] for v in variants] == ["linux/amd64", "linux/arm64"]
    assert {build_of(v)["target"] for v in variants} == {"runtime"}


def test_build_takes_platforms_and_the_revision_label() -> None:
    archive = main.NoxCi(source=dag.directory()).build(["linux/arm64"], revision="abc123")
    (variant,) = graph.one(archive, "asTarball")["platformVariants"]
    assert build_of(variant)["platform"] == "linux/arm64"
    assert build_of(variant)["buildArgs"] == [
        {"name": "PYTHON_IMAGE", "value": facts.PYTHON_IMAGE},
        {"name": "REVISION", "value": "abc123"},
    ]


def test_every_dockerfile_build_gets_the_base_image_pinned_by_digest() -> None:
    archive = main.NoxCi(source=dag.directory()).build()
    builds = [build_of(v) for v in graph.one(archive, "asTarball")["platformVariants"]]
    builds.append(build_of(images.suite_image(dag.directory())))
    for build in builds:
        pinned = {a["name"]: a["value"] for a in build["buildArgs"]}["PYTHON_IMAGE"]
        assert pinned == facts.PYTHON_IMAGE and "@sha256:" in pinned


def test_build_refuses_an_empty_platform_list() -> None:
    with pytest.raises(ValueError, match="at least one platform"):
        images.runtime_variants(dag.directory(), [])


@pytest.fixture
def pushed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str, list[Any]]]:
    """Records `Container.publish` calls (no registry here) and answers like a registry."""
    calls: list[tuple[Any, str, list[Any]]] = []

    async def fake_publish(self: Any, address: str, *, platform_variants: Any = None) -> str:
        calls.append((self, address, platform_variants))
        return f"{address}@{DIGEST}"

    monkeypatch.setattr(dagger.Container, "publish", fake_publish)
    return calls


def test_publish_pushes_every_variant_under_each_tag_and_returns_the_digest(
    pushed: list[tuple[Any, str, list[Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeEngine(ROOT).install(monkeypatch)
    ref = asyncio.run(
        main.NoxCi(source=dag.directory()).publish(
            "ghcr.io", "acme/nox", ["7.0.0", "main"], "bot", dag.secret("env://REGISTRY_TOKEN")
        )
    )
    assert ref == f"ghcr.io/acme/nox@{DIGEST}"
    assert [address for _, address, _ in pushed] == [
        "ghcr.io/acme/nox:7.0.0",
        "ghcr.io/acme/nox:main",
    ]
    for base, _, variants in pushed:
        auth = graph.one(base, "withRegistryAuth")
        assert auth["address"] == "ghcr.io" and auth["username"] == "bot"
        assert isinstance(auth["secret"], dagger.Secret)
        assert [build_of(v)["platform"] for v in variants] == list(facts.PLATFORMS)


def test_publish_refuses_tags_that_disagree_on_the_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([f"r/i:a@{DIGEST}", "r/i:b@sha256:" + "cd" * 32])

    async def fake_publish(self: Any, address: str, **_: Any) -> str:
        return next(answers)

    monkeypatch.setattr(dagger.Container, "publish", fake_publish)
    FakeEngine(ROOT).install(monkeypatch)
    with pytest.raises(RuntimeError, match="different digests"):
        asyncio.run(
            main.NoxCi(source=dag.directory()).publish(
                "r", "i", ["a", "b"], "u", dag.secret("env://T")
            )
        )


def test_publish_rejects_an_invalid_tag() -> None:
    with pytest.raises(ValueError, match="invalid image tag"):
        main.image_address("ghcr.io", "acme/nox", "refs/heads/main")


def scan(nonce: str = "1") -> Any:
    return scanning.scan_container(dag.directory().file("image.tar"), nonce)


def test_scan_uses_trivy_pinned_by_digest_on_the_image_archive() -> None:
    ctr = scan()
    assert graph.images(ctr) == [facts.TRIVY_IMAGE]
    assert "@sha256:" in facts.TRIVY_IMAGE
    mounted = graph.one(ctr, "withMountedFile")
    assert mounted["path"] == scanning.IMAGE_TAR
    for argv in graph.execs(ctr)[1:]:
        assert argv[:4] == ["trivy", "image", "--input", scanning.IMAGE_TAR]


def test_scan_gates_on_fixed_high_and_critical_findings_of_three_scanners() -> None:
    gate = graph.find(scan(), "withExec")[-1]
    argv = gate["args"]
    assert argv[argv.index("--scanners") + 1] == "vuln,secret,misconfig"
    assert argv[argv.index("--severity") + 1] == "HIGH,CRITICAL"
    # Not 1: Trivy exits 1 when it fails itself, which must not read as "findings".
    assert argv[argv.index("--exit-code") + 1] == str(scanning.FINDINGS_EXIT) != "1"
    assert "--ignore-unfixed" in argv
    assert argv[argv.index("--format") + 1] == "sarif"
    assert gate["expect"] == "ANY"  # the caller reads the exit code after saving reports


def test_scan_writes_a_cyclonedx_sbom() -> None:
    sbom = graph.execs(scan())[1]
    assert sbom[sbom.index("--format") + 1] == "cyclonedx"
    assert sbom[sbom.index("--output") + 1] == "/reports/sbom.cdx.json"


def test_scan_keeps_its_database_in_a_locked_cache_volume() -> None:
    cache = graph.cache_at(scan(), "/root/.cache/trivy")
    assert cache == {"key": "nox-trivy-db", "sharing": "LOCKED"}
    assert graph.env(scan())["TRIVY_CACHE_DIR"] == "/root/.cache/trivy"


def test_scan_always_reruns_a_nonce_changes_its_graph() -> None:
    assert graph.env(scan("1"))["SCAN_NONCE"] == "1"
    assert graph.steps(scan("1")) != graph.steps(scan("2"))
    assert main.nonce() != main.nonce()


def test_scan_gets_no_credentials() -> None:
    kinds = {s.name for s in graph.every_step(scan())}
    assert not kinds & {"withSecretVariable", "withMountedSecret", "withRegistryAuth"}


def test_scan_function_returns_reports_with_the_outcome_and_fails_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    findings: int = scanning.FINDINGS_EXIT  # read twice by scan(fail=True): report, raise
    exit_codes = iter([findings, findings, findings, 0])

    async def exit_code(self: Any) -> int:
        return next(exit_codes)

    async def text(self: Any) -> str:
        return "CVE-2099-0001 HIGH\n"

    async def native(self: Any) -> str:
        return "linux/amd64"

    monkeypatch.setattr(dagger.Container, "exit_code", exit_code)
    monkeypatch.setattr(dagger.Container, "stdout", text)
    monkeypatch.setattr(dagger.Container, "stderr", text)
    monkeypatch.setattr(dagger.Client, "default_platform", native)
    ci = main.NoxCi(source=dag.directory())
    with pytest.raises(main.PipelineError, match="CVE-2099-0001"):
        asyncio.run(ci.scan(fail=True))
    failed = asyncio.run(ci.scan())  # findings: the reports still come back, with the outcome
    outcome = graph.one(failed, "withNewFile")
    assert outcome["path"] == "outcome" and "findings" in outcome["contents"]
    passed = asyncio.run(ci.scan())
    assert graph.one(passed, "withNewFile")["contents"] == "passed\n"
    assert graph.steps(passed)[-2] == graph.Step("directory", {"path": "/reports"})
    archive = graph.one(passed, "withMountedFile")["source"]
    assert build_of(archive)["platform"] == "linux/amd64"
