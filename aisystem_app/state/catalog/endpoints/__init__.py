"""States of the endpoint pages."""
