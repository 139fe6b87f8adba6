"""States of the catalog datasets pages, one module per page module under pages/catalog/datasets/."""
