"""The audit log: every run, file change, login, token and admin action, hash-chained."""
