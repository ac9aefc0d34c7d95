"""The audit export is safe to open in a spreadsheet: a user-controlled cell that starts like
a formula is neutralised in the CSV export and kept exact in the JSONL one (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from app.settings import Settings
from tests.conftest import app_client, make_token

pytestmark = pytest.mark.integration

FORMULAS = ['=HYPERLINK("http://evil.test","x")', "+1+1", "-2+3", "@SUM(1,1)"]


async def test_formula_cells_are_neutralised_in_csv_and_exact_in_jsonl(
    backend_settings: Settings,
) -> None:
    async with app_client(backend_settings) as client:
        user = await make_token(client, backend_settings, "mallory@example.test")
        admin = await make_token(client, backend_settings, "auditor@example.test", admin=True)
        for name in FORMULAS:
            await client.put(
                f"/api/v7/files/{name}", content=b"x", headers={"Authorization": f"Bearer {user}"}
            )
        auth = {"Authorization": f"Bearer {admin}"}
        exported = await client.get("/api/v7/admin/audit/export?format=csv", headers=auth)
        cells = {c for row in csv.reader(io.StringIO(exported.text)) for c in row}
        jsonl = await client.get("/api/v7/admin/audit/export?format=jsonl", headers=auth)
        targets = {json.loads(line)["target"] for line in jsonl.text.splitlines()}
    for formula in FORMULAS:
        assert not any(c.startswith(formula) for c in cells), formula
        assert any(c == "'" + formula or c.startswith("'" + formula) for c in cells), formula
        assert any(t and t.endswith(formula) for t in targets), (formula, targets)
