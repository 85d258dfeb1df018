"""Lambda-style triggers: event source mappings over the change log."""
