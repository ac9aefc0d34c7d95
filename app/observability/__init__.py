"""Health, readiness, metrics and structured logs."""
