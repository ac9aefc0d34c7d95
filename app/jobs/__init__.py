"""Asynchronous runs: submit, poll, follow, cancel; shared by api replicas through the store."""
