"""Sidecar mode: push, triggers and TTL expiry for an upstream DynamoDB-compatible engine."""
