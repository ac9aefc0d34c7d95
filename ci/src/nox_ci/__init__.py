"""Nox 7 pipeline as code: lint, test, scan, build, publish, deploy, rollback and smoke."""

from .main import NoxCi

__all__ = ["NoxCi"]
