"""Who sells a listing's tiers priced "Contact": the address "Contact sales" writes to."""

from __future__ import annotations

from sqlmodel import Session

from backend.auth.models import User
from backend.marketplace import schemas as s
from backend.marketplace.models import Listing, Provider


def sales_contact(session: Session, listing: Listing) -> s.SalesContact:
    """The provider's contact address; for a company model without one, its publisher's; else the
    listing's support address. `email` is None when there is none (the provider's website is given)."""
    provider = session.get(Provider, listing.provider_id)
    name = provider.name if provider else "the provider"
    website = provider.website if provider else None
    if provider is not None and provider.contact_email:
        return s.SalesContact(name=name, email=provider.contact_email, website=website, demo=provider.contact_is_demo)
    if listing.source_model_id and listing.created_by:
        publisher = session.get(User, listing.created_by)
        if publisher is not None and publisher.email:
            return s.SalesContact(name=f"{publisher.display_name} (publisher)", email=publisher.email,
                                  website=website, demo=False)
    email = (listing.support or {}).get("email")
    return s.SalesContact(name=name, email=email or None, website=website, demo=False)
