"""Governance: policies that gate actions, violations and compliance assessments.

The audit trail every domain writes lives in `backend.audit` (it depends only on core), so
governance may read the catalog without an import cycle.
"""
