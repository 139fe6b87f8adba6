"""/marketplace/models/[listing_id]: a listing's header and its Overview, Pricing, Licence, Reviews and
Usage tabs. Text from providers and reviewers is rendered as text, never as markup."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.charts import chart
from aisystem_app.components.facts import fact_list
from aisystem_app.components.feedback import empty_state, loading_rows
from aisystem_app.components.forms import field_label, form_field
from aisystem_app.components.layout import protected_page
from aisystem_app.components.listing_card import listing_badge, verified_tick
from aisystem_app.components.rating import rating_input, rating_stars
from aisystem_app.components.tabs import page_tabs
from aisystem_app.state.marketplace.common import SubscriptionView
from aisystem_app.state.marketplace.listing import LicenceView, ListingState, ReviewView, TierView


def favourite_toggle() -> rx.Component:
    """Adds the listing to the user's favourites or takes it off."""
    return rx.button(
        rx.icon("heart", size=16, fill=rx.cond(ListingState.favourite, "currentColor", "none")),
        rx.cond(ListingState.favourite, "Favourite", "Add to favourites"),
        variant=rx.cond(ListingState.favourite, "soft", "outline"),
        color_scheme=rx.cond(ListingState.favourite, "crimson", "gray"),
        on_click=ListingState.toggle_favourite,
        aria_pressed=rx.cond(ListingState.favourite, "true", "false"),
        id="favourite-toggle",
    )


def header() -> rx.Component:
    """Name, provider with its verified tick, rating, badges and the favourite toggle."""
    return rx.hstack(
        rx.vstack(
            rx.link(ListingState.category, href=ListingState.category_href, size="2"),
            rx.heading(ListingState.name, size="7", id="listing-name"),
            rx.hstack(rx.text(ListingState.provider, size="3", weight="medium", id="listing-provider"),
                      verified_tick(ListingState.provider_verified, 16),
                      rx.text(ListingState.provider_facts, size="2", color_scheme="gray"), spacing="2", align="center"),
            rating_stars(ListingState.rating, size=16, label=ListingState.rating_text),
            rx.flex(rx.foreach(ListingState.badges, listing_badge), wrap="wrap", gap="1", id="listing-badges"),
            spacing="2",
            align="start",
        ),
        rx.spacer(),
        favourite_toggle(),
        width="100%",
        align="start",
        wrap="wrap",
    )


def overview() -> rx.Component:
    """Description, features, specifications and tags."""
    return rx.grid(
        rx.vstack(
            rx.text(ListingState.description, size="3", white_space="pre-wrap"),
            rx.heading("Features", size="4"),
            rx.cond(ListingState.features.length() == 0, rx.text("No features listed.", size="2", color_scheme="gray"),
                    rx.list.unordered(rx.foreach(ListingState.features, lambda f: rx.list.item(f)), id="features")),
            rx.flex(rx.foreach(ListingState.tags, lambda t: rx.badge(t, variant="surface", color_scheme="gray")),
                    wrap="wrap", gap="1"),
            spacing="3",
            align="start",
        ),
        rx.card(rx.vstack(rx.heading("Specifications", size="4"),
                          fact_list(ListingState.specs, size="2", id="specifications"),
                          spacing="3")),
        columns=rx.breakpoints(initial="1", lg="2"),
        spacing="5",
        width="100%",
    )


def confirm_subscribe(tier: rx.Var[TierView]) -> rx.Component:
    """The tier's button and the dialog that confirms the subscription."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(tier.button, width="100%", disabled=~ListingState.may_acquire | ListingState.busy,
                      data_tier=tier.name, class_name="subscribe-button"),
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(ListingState.name, " — ", tier.name, " tier"),
            rx.alert_dialog.description(
                tier.price, " for ", tier.quota, " per period. ", ListingState.billing_note,
                rx.cond(tier.action == "change", " Switching now bills (or credits) the price difference for the rest "
                        "of the current period.", " You can cancel at any time; use continues to the period's end."),
            ),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button(tier.button, on_click=ListingState.subscribe(tier.name),
                                                 id="confirm-subscribe")),
                gap="3",
                justify="end",
                margin_top="1rem",
            ),
        ),
    )


def tier_button(tier: rx.Var[TierView]) -> rx.Component:
    return rx.match(
        tier.action,
        ("current", rx.button(tier.button, width="100%", variant="soft", disabled=True, data_tier=tier.name)),
        ("contact", rx.button(tier.button, width="100%", variant="outline", disabled=True, data_tier=tier.name)),
        confirm_subscribe(tier),
    )


def tier_card(tier: rx.Var[TierView]) -> rx.Component:
    """One pricing tier."""
    return rx.card(
        rx.vstack(
            rx.heading(tier.name, size="4"),
            rx.text(tier.price, size="6", weight="bold"),
            rx.text(tier.quota, size="2", color_scheme="gray"),
            rx.list.unordered(rx.foreach(tier.features, lambda f: rx.list.item(f)), size="2"),
            rx.spacer(),
            tier_button(tier),
            spacing="2",
            height="100%",
            align="start",
        ),
        height="100%",
        data_tier_card=tier.name,
    )


def subscription_summary(sub: rx.Var[SubscriptionView]) -> rx.Component:
    """The user's live subscription, with the cancel action."""
    cancel = rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button("Cancel subscription", variant="soft", color_scheme="red", size="1",
                                          id="cancel-subscription")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Cancel your subscription?"),
            rx.alert_dialog.description("Nothing more is billed; you keep access to the end of the current period."),
            rx.flex(rx.alert_dialog.cancel(rx.button("Keep it", variant="soft", color_scheme="gray")),
                    rx.alert_dialog.action(rx.button("Cancel subscription", color_scheme="red",
                                                     on_click=ListingState.cancel_subscription)),
                    gap="3", justify="end", margin_top="1rem"),
        ),
    )
    return rx.callout.root(
        rx.callout.icon(rx.icon("circle-check")),
        rx.callout.text(
            rx.hstack(
                rx.text("You are on the ", rx.text.strong(sub.tier), " tier (", sub.price, ") · ", sub.usage, " · ",
                        sub.period),
                rx.spacer(),
                rx.cond(sub.status == "active", cancel),
                width="100%",
                align="center",
                wrap="wrap",
            ),
        ),
        color_scheme="green",
        width="100%",
        id="current-subscription",
        data_tier=sub.tier,
        data_status=sub.status,
    )


def pricing() -> rx.Component:
    """Tier cards, the user's subscription, and why they may not subscribe if the licence says so."""
    return rx.vstack(
        rx.foreach(ListingState.subscription, subscription_summary),
        rx.cond(~ListingState.may_acquire,
                rx.callout(ListingState.refusal, icon="shield-alert", color_scheme="amber", width="100%",
                           id="licence-refusal")),
        rx.cond(ListingState.tiers.length() == 0, empty_state("No pricing tiers", icon="receipt"),
                rx.grid(rx.foreach(ListingState.tiers, tier_card), columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                        spacing="4", width="100%", id="tiers")),
        rx.text(ListingState.billing_note, size="1", color_scheme="gray"),
        spacing="4",
        width="100%",
    )


def _yes_no(flag: rx.Var[bool], yes: str, no: str) -> rx.Component:
    return rx.badge(rx.icon(rx.cond(flag, "check", "x"), size=12), rx.cond(flag, yes, no),
                    color_scheme=rx.cond(flag, "green", "red"), variant="soft")


def licence_card(licence: rx.Var[LicenceView]) -> rx.Component:
    """One licence with every restriction spelled out."""
    return rx.card(
        rx.vstack(
            rx.heading(licence.type, size="4"),
            rx.flex(_yes_no(licence.commercial_use, "Commercial use allowed", "No commercial use"),
                    _yes_no(licence.modification_allowed, "Modification allowed", "No modification"), gap="2",
                    wrap="wrap"),
            rx.text("Restrictions", size="2", weight="bold"),
            rx.cond(licence.restrictions.length() == 0,
                    rx.text("The licence states no further restrictions.", size="2", color_scheme="gray"),
                    rx.list.unordered(rx.foreach(licence.restrictions, lambda r: rx.list.item(r)), size="2")),
            rx.cond(licence.url != "", rx.link("Read the full licence", href=licence.url, is_external=True,
                                               size="2", rel="noopener noreferrer")),
            spacing="2",
            align="start",
        ),
        width="100%",
        class_name="licence-card",
    )


def licence() -> rx.Component:
    return rx.vstack(rx.foreach(ListingState.licences, licence_card), spacing="3", width="100%", id="licences")


def review_item(review: rx.Var[ReviewView]) -> rx.Component:
    """One review; the verified-use mark when the author had a subscription or licence."""
    return rx.vstack(
        rx.hstack(
            rating_stars(review.rating.to(float)),
            rx.text(review.title, size="2", weight="bold"),
            rx.spacer(),
            rx.cond(review.verified_use, rx.badge(rx.icon("badge-check", size=12), "Verified use", color_scheme="green",
                                                  variant="soft", class_name="verified-use")),
            rx.cond(review.demo, rx.badge("Demo data", color_scheme="gray", variant="outline")),
            width="100%",
            align="center",
            wrap="wrap",
        ),
        rx.text(review.text, size="2", white_space="pre-wrap"),
        rx.text(review.author, " · ", review.date, size="1", color_scheme="gray"),
        spacing="1",
        width="100%",
        padding_y="0.75rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        class_name="review",
        data_review=review.id,
    )


def _error(message: rx.Var[str], field_id: str) -> rx.Component:
    return rx.cond(message != "", rx.text(message, size="1", color_scheme="red", id=f"{field_id}-error"))


def review_form() -> rx.Component:
    """Write your review, or edit the one you wrote."""
    editing = ListingState.own_review_id != ""
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(rx.cond(editing, "Edit your review", "Write a review"), size="4"),
                rx.text("Your rating", size="2", weight="medium"),
                rating_input(ListingState.form_rating, ListingState.choose_rating, name="review-rating"),
                _error(ListingState.rating_error, "review-rating"),
                form_field("Title", "title", ListingState.title_error, default_value=ListingState.form_title,
                           placeholder="Sum it up in a line"),
                rx.vstack(
                    field_label("Review", "review-text"),
                    rx.text_area(id="review-text", name="text", default_value=ListingState.form_text, rows="4",
                                 width="100%", placeholder="What worked, what did not?",
                                 aria_invalid=rx.cond(ListingState.text_error != "", "true", "false")),
                    _error(ListingState.text_error, "review-text"),
                    spacing="1",
                    width="100%",
                ),
                rx.button(rx.cond(editing, "Update review", "Publish review"), type="submit",
                          loading=ListingState.saving, id="submit-review"),
                spacing="3",
                width="100%",
                align="start",
            ),
            on_submit=ListingState.submit_review,
            key=ListingState.form_version,
            id="review-form",
        ),
        width="100%",
    )


def rating_summary() -> rx.Component:
    """The average, the breakdown chart and the aspect ratings."""
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading(ListingState.rating_value, size="7"), rx.text(ListingState.review_count, size="2",
                                                                              color_scheme="gray", id="review-count"),
                      align="baseline", spacing="2"),
            rating_stars(ListingState.rating, size=18),
            rx.box(chart(ListingState.breakdown), width="100%", id="rating-breakdown",
                   data_counts=ListingState.star_counts),
            fact_list(ListingState.aspect_ratings, size="1"),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def reviews() -> rx.Component:
    return rx.grid(
        rating_summary(),
        rx.vstack(
            review_form(),
            rx.cond(ListingState.reviews.length() == 0, empty_state("No reviews yet", "Be the first to review it."),
                    rx.vstack(rx.foreach(ListingState.reviews, review_item), spacing="0", width="100%",
                              id="review-list")),
            spacing="4",
            width="100%",
        ),
        columns=rx.breakpoints(initial="1", lg="20rem 1fr"),
        align="start",
        spacing="5",
        width="100%",
    )


def usage() -> rx.Component:
    """Requests used against the quota, and requests per day (subscribers only)."""
    return rx.cond(
        ListingState.subscribed,
        rx.vstack(
            rx.text(ListingState.usage_text, size="3", weight="medium", id="usage-text"),
            rx.progress(value=ListingState.usage_percent, max=100, width="100%"),
            rx.heading("Your requests per day, last 30 days", size="3"),
            chart(ListingState.usage_chart),
            spacing="3",
            width="100%",
        ),
        empty_state("Subscribe to see your usage", "Requests against your quota show here once you subscribe.",
                    icon="chart-no-axes-column"),
    )


TABS = (("overview", "Overview", overview), ("pricing", "Pricing", pricing), ("licence", "Licence", licence),
        ("reviews", "Reviews", reviews), ("usage", "Usage", usage))


def tabs() -> rx.Component:
    return page_tabs(TABS, default_value="overview")


@protected_page(routes.MARKETPLACE_LISTING, "Model", on_load=[ListingState.load])
def listing() -> rx.Component:
    """A marketplace listing."""
    return rx.cond(
        ListingState.found,
        rx.vstack(header(), tabs(), spacing="5", width="100%"),
        rx.cond(ListingState.loading, loading_rows(6, "2.5rem"),
                empty_state("This listing does not exist or you may not see it", icon="search-x")),
    )
