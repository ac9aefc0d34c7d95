"""The public entry is Gateway API: the rendered HTTPRoute and the example Gateway validate
against the published v1 CRD schemas (vendored in tests/fixtures/gateway-api/, v1.6.1), with
unknown fields refused as the API server's strict field validation does, and fit together."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.prereq import require_binary
from tests.unit.k8s_manifests import OVERLAYS, ROOT, Doc, build, find, namespace_of

SCHEMAS = ROOT / "tests" / "fixtures" / "gateway-api"
GATEWAY_EXAMPLE = ROOT / "k8s" / "examples" / "gateway.yaml"


def strict(schema: Any) -> Any:
    """The CRD schema with ``additionalProperties: false`` wherever Kubernetes would prune."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    keeps_unknown = schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and "additionalProperties" not in schema and not keeps_unknown:
        out["additionalProperties"] = False
    return out


def violations(doc: Doc, schema_file: str, tmp_path: Path) -> str:
    """'' when ``doc`` is valid, else check-jsonschema's report."""
    checker = require_binary("check-jsonschema", "uv sync (dev group: check-jsonschema)")
    schema = tmp_path / f"strict-{schema_file}"
    schema.write_text(json.dumps(strict(json.loads((SCHEMAS / schema_file).read_text()))))
    instance = tmp_path / "instance.json"
    instance.write_text(json.dumps(doc))
    result = subprocess.run(
        [checker, "--schemafile", str(schema), str(instance)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return "" if result.returncode == 0 else result.stdout + result.stderr


def example_gateway() -> Doc:
    docs = [d for d in yaml.safe_load_all(GATEWAY_EXAMPLE.read_text()) if d]
    return find(docs, "Gateway", "nox")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_rendered_httproute_matches_the_published_schema(overlay: str, tmp_path: Path) -> None:
    route = find(build(overlay), "HTTPRoute", "nox")
    assert violations(route, "httproute-v1.json", tmp_path) == ""


def test_the_example_gateway_matches_the_published_schema(tmp_path: Path) -> None:
    assert violations(example_gateway(), "gateway-v1.json", tmp_path) == ""


def test_a_misspelt_field_is_refused(tmp_path: Path) -> None:
    route = find(build("prod"), "HTTPRoute", "nox")
    route["spec"]["rules"][0]["backendRefs"][0]["prot"] = 8000
    assert "prot" in violations(route, "httproute-v1.json", tmp_path)
    gateway = example_gateway()
    gateway["spec"]["listeners"][0]["protocol"] = 7
    assert violations(gateway, "gateway-v1.json", tmp_path)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_route_attaches_to_the_example_gateway_for_the_public_host(overlay: str) -> None:
    docs = build(overlay)
    route, gateway = find(docs, "HTTPRoute", "nox"), example_gateway()
    [parent] = route["spec"]["parentRefs"]
    assert (parent["name"], parent["namespace"]) == (
        gateway["metadata"]["name"], gateway["metadata"]["namespace"],
    )  # fmt: skip
    [listener] = [ln for ln in gateway["spec"]["listeners"] if ln["name"] == parent["sectionName"]]
    assert listener["protocol"] == "HTTPS"
    # Routes from the api namespace may attach; none from the executor's sandbox namespace.
    wanted = listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"]
    for namespace, may in ((namespace_of(docs, "HTTPRoute", "nox"), True),
                           (namespace_of(docs, "Deployment", "executor"), False)):  # fmt: skip
        labels = find(docs, "Namespace", namespace)["metadata"]["labels"]
        assert (wanted.items() <= labels.items()) is may, namespace
    [config] = [d for d in docs if d["metadata"]["name"].startswith("nox-config")]
    public = config["data"]["NOX_PUBLIC_URL"]
    assert route["spec"]["hostnames"] == [urlsplit(public).hostname]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_ingress_is_left(overlay: str) -> None:
    assert all(d["kind"] != "Ingress" for d in build(overlay))
