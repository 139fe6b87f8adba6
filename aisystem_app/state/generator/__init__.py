"""States of the app generator pages."""
