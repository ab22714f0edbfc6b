"""HTTP routes of the key service, one module per area; a reader finds a handler by its path."""
