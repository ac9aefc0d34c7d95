"""Workspace files over HTTP: the ``/api/v7/files`` family (stored by the executor)."""
