"""Compliance readiness: framework catalogues (GDPR, SOC 2, ISO 27001, HIPAA, FedRAMP) whose controls map to
automated checks over the platform's real state or to manual attestations with evidence; stored, scored
assessments; certification requests an admin approves or rejects. An internal readiness assessment, not a
certification."""
