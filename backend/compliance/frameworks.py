"""The frameworks' catalogues: each a list of controls, each mapped to automated checks (`checks.CHECKS`)
or, where the platform holds no state that could decide it, to a manual attestation with evidence.

Control ids follow the framework's own numbering (GDPR articles, SOC 2 Trust Services Criteria,
ISO/IEC 27001:2022 Annex A, HIPAA Security and Privacy Rule sections, NIST SP 800-53 controls of the
FedRAMP baselines); titles and descriptions are this platform's short readings of them, for an internal
readiness assessment, not the standards' text.
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.compliance.checks import CHECKS


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    description: str
    checks: tuple[str, ...] = ()  # all must pass; empty: a manual attestation decides
    guidance: str = ""  # for manual controls: what the attestation should state and attach

    @property
    def automated(self) -> bool:
        return bool(self.checks)


@dataclass(frozen=True)
class Framework:
    id: str
    name: str
    description: str
    controls: tuple[Control, ...]


def _manual(id: str, title: str, description: str, guidance: str) -> Control:  # noqa: A002
    return Control(id, title, description, (), guidance)


FRAMEWORKS: tuple[Framework, ...] = (
    Framework("GDPR", "GDPR", "EU General Data Protection Regulation: personal data processed lawfully, minimised, "
              "kept no longer than needed and secured.", (
        Control("Art.5(1)(e)", "Storage limitation", "Personal data is kept no longer than its purpose needs: every "
                "dataset declares how long it is retained.", ("dataset_retention_set",)),
        Control("Art.25", "Data protection by design", "Personal data in datasets is detected and anonymized or "
                "pseudonymized before use.", ("pii_datasets_anonymized",)),
        Control("Art.32(1)(b)", "Confidentiality of processing", "Datasets that may hold personal data are "
                "readable only by named people and departments, and sign-ins are protected.",
                ("pii_datasets_restricted", "login_throttling_on")),
        Control("Art.30", "Records of processing", "Every change to data and models is recorded in a tamper-evident "
                "trail.", ("audit_chain_intact",)),
        _manual("Art.6", "Lawful basis", "Each dataset with personal data has a documented lawful basis.",
                "State the lawful basis for each personal-data dataset; attach the register of processing."),
        _manual("Art.35", "Impact assessment", "A DPIA exists for high-risk processing (e.g. models on personal data).",
                "Attach the latest data protection impact assessment."),
    )),
    Framework("SOC2", "SOC 2", "AICPA Trust Services Criteria: security, availability, processing integrity, "
              "confidentiality and privacy controls.", (
        Control("CC6.1", "Logical access", "Access to data and models is restricted and every serving route "
                "authenticates its callers.", ("endpoints_require_authentication", "pii_datasets_restricted")),
        Control("CC6.2", "Credential lifecycle", "Credentials are rotated: no API key is older than 90 days.",
                ("api_keys_rotated",)),
        Control("CC6.6", "Protection against unauthorised sign-in", "Repeated failed sign-ins are throttled.",
                ("login_throttling_on",)),
        Control("CC7.2", "Monitoring of system components", "Security-relevant events are logged in a trail whose "
                "integrity is verified.", ("audit_chain_intact",)),
        Control("CC8.1", "Change management", "Models released to production are documented, licensed and "
                "evaluated.", ("production_models_licensed", "production_models_have_card",
                               "production_models_evaluated")),
        Control("PI1.2", "Processing integrity of inputs", "The data a model was trained on is the data recorded "
                "in its provenance.", ("training_data_intact",)),
        _manual("CC1.4", "Personnel competence", "People operating the platform are trained on security.",
                "State the security-awareness training completed this year; attach the attendance record."),
        _manual("A1.2", "Backups and recovery", "Databases and the artifact store are backed up and restores tested.",
                "State the backup schedule and the date of the last restore test; attach its report."),
    )),
    Framework("ISO27001", "ISO/IEC 27001", "ISO/IEC 27001:2022 Annex A information security controls.", (
        Control("A.5.15", "Access control", "Rules restrict access to information: serving routes authenticate, "
                "sensitive datasets are not shared role-wide.",
                ("endpoints_require_authentication", "pii_datasets_restricted")),
        Control("A.5.17", "Authentication information", "Secret keys are rotated within 90 days.", ("api_keys_rotated",)),
        Control("A.5.34", "Privacy and protection of PII", "PII is identified and anonymized.",
                ("pii_datasets_anonymized",)),
        Control("A.8.5", "Secure authentication", "Sign-in resists guessing: failures are throttled.",
                ("login_throttling_on",)),
        Control("A.8.10", "Information deletion", "Information is deleted when no longer required: retention is "
                "declared for every dataset.", ("dataset_retention_set",)),
        Control("A.8.15", "Logging", "Logs are produced, kept and protected against tampering.",
                ("audit_chain_intact",)),
        Control("A.8.32", "Change management", "Production releases are documented and evaluated.",
                ("production_models_have_card", "production_models_evaluated")),
        _manual("A.5.24", "Incident management planning", "An incident response plan exists and is rehearsed.",
                "Attach the incident response plan and the date it was last exercised."),
        _manual("A.7.1", "Physical security perimeters", "The hosts run in secured premises.",
                "State where the platform is hosted; attach the hosting provider's physical security report."),
    )),
    Framework("HIPAA", "HIPAA", "US Health Insurance Portability and Accountability Act: Security Rule safeguards "
              "and Privacy Rule de-identification for protected health information.", (
        Control("164.312(b)", "Audit controls", "Activity on systems with ePHI is recorded and examinable.",
                ("audit_chain_intact",)),
        Control("164.312(c)(1)", "Integrity", "ePHI is protected from improper alteration: training data matches "
                "its recorded hash.", ("training_data_intact",)),
        Control("164.312(d)", "Person or entity authentication", "Everyone reaching ePHI or models on it is "
                "authenticated; sign-in guessing is throttled.",
                ("endpoints_require_authentication", "login_throttling_on")),
        Control("164.312(a)(1)", "Access control", "Only authorised people read datasets that may hold ePHI.",
                ("pii_datasets_restricted",)),
        Control("164.514(b)", "De-identification", "Datasets with identifiers are de-identified before use.",
                ("pii_datasets_anonymized",)),
        _manual("164.308(a)(1)", "Risk analysis", "A risk analysis of ePHI is performed and kept current.",
                "Attach the current risk analysis and its date."),
        _manual("164.314(a)", "Business associate contracts", "BAAs are in place with every provider handling ePHI.",
                "List the business associates and attach the signed agreements."),
    )),
    Framework("FedRAMP", "FedRAMP", "US federal cloud authorisation, NIST SP 800-53 controls of the FedRAMP "
              "Moderate baseline.", (
        Control("AC-3", "Access enforcement", "Every serving route enforces an authorisation.",
                ("endpoints_require_authentication",)),
        Control("AC-7", "Unsuccessful logon attempts", "Consecutive failed sign-ins are limited.",
                ("login_throttling_on",)),
        Control("AU-9", "Protection of audit information", "The audit trail is protected from modification.",
                ("audit_chain_intact",)),
        Control("IA-5(1)", "Authenticator management", "Authenticators (API keys) are refreshed within 90 days.",
                ("api_keys_rotated",)),
        Control("SI-7", "Software, firmware and information integrity", "Integrity of training data and models "
                "is verified against recorded hashes.", ("training_data_intact",)),
        Control("SA-11", "Developer testing and evaluation", "Production models carry evaluation results.",
                ("production_models_evaluated",)),
        _manual("SC-28", "Protection of information at rest", "Stored data and artifacts are encrypted at rest.",
                "State the disk and object-store encryption in use; attach the configuration or provider report."),
        _manual("CP-9", "System backup", "Backups are taken and protected.",
                "State the backup schedule and retention; attach evidence of the last successful backup."),
    )),
)

BY_ID: dict[str, Framework] = {f.id: f for f in FRAMEWORKS}
FRAMEWORK_IDS: tuple[str, ...] = tuple(BY_ID)


def control(framework_id: str, control_id: str) -> Control | None:
    framework = BY_ID.get(framework_id)
    return next((c for c in framework.controls if c.id == control_id), None) if framework else None


def check_title(name: str) -> str:
    return CHECKS[name][0]
