"""States of the catalog models pages, one module per page module under pages/catalog/models/."""
