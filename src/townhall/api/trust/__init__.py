"""The trust and safety endpoints: routes, records, shared shapes and request schemas."""
