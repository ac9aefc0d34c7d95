"""The sandbox: the only part of Nox that runs untrusted code."""
