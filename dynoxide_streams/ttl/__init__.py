"""Time to Live: the sweeper that deletes expired items as the TTL service."""
