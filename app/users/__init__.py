"""Users, their roles and identities."""
