"""Helpers for testing code against dynoxide-streams (see ``pytest_plugin``)."""
