"""The governance pages: policies, violations, the audit explorer, provenance and compliance."""

from aisystem_app.pages.governance import audit, compliance, policies, provenance, violations

__all__ = ["audit", "compliance", "policies", "provenance", "violations"]
