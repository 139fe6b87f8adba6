"""States of the marketplace pages, one module per page module under pages/marketplace/."""
