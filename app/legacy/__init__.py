"""Routes of the earlier Nox kept for its existing clients, mapped onto the same services."""
