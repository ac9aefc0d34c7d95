"""Nox 7: run untrusted Python and shell in a kernel-isolated sandbox beside workspace files."""

__version__ = "7.0.0"
