"""The hash-chained audit trail every domain writes to. Depends only on core."""
