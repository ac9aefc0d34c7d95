"""Quotas and rate limits, counted in the store so every replica shares them."""
