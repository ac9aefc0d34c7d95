"""Imports every model module so ``Base.metadata`` knows all tables (Alembic, tests)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "app.users.models",
    "app.auth.tokens",
    "app.audit.models",
    "app.backup.models",
)


def load_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
