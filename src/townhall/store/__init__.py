"""Adapters for storage: relational data (sql/), hot state (state/), media objects (blobs/)."""
