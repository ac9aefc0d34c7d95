"""deploy/ runs where nothing but Python is installed (the Dagger deploy container, an operator's
host): it may import the standard library and itself, nothing else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_deploy_imports_only_the_standard_library() -> None:
    foreign = []
    for path in sorted(DEPLOY.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("deploy", "__future__"):
                    foreign.append(f"{path.name}: {name}")
    assert foreign == []
