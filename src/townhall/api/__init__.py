"""The HTTP API: thin endpoints that parse, call a service and shape the answer. One module per area."""
