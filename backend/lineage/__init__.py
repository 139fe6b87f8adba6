"""Platform lineage (W3C PROV): entities, activities and their relations, for every domain. Depends only on core."""
