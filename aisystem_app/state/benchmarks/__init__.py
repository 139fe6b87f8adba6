"""States of the benchmark pages."""
