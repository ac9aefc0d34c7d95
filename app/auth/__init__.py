"""Authentication: personal API tokens, server-side sessions, login providers."""
