"""Trust and safety adapters: DSA statements of reasons, the audit log, country lookup, transparency."""
