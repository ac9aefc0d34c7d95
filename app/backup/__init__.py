"""Backups and disaster recovery: PostgreSQL dump, Redis snapshot, manifest, restore."""
