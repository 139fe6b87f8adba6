"""States of the governance pages, one module per page module under pages/governance/."""
