"""States of the catalog pages, one module per page module under pages/catalog/."""
