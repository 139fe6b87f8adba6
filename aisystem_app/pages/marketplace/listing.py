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
                          rx.cond(ListingState.catalog_href != "",
                                  rx.link(rx.icon("boxes", size=14), "Open this model in the catalog",
                                          href=ListingState.catalog_href, size="2", id="catalog-model-link",
                                          display="inline-flex", align_items="center", gap="0.3rem")),
                          spacing="3")),
        columns=rx.breakpoints(initial="1", lg="2"),
        spacing="5",
        width="100%",
    )


def _spinner_button(label: rx.Var[str] | str, key: rx.Var[str] | str, **props) -> rx.Component:
    """A button that shows a spinner while its action is being priced."""
    return rx.button(rx.cond(ListingState.quoting == key, rx.spinner(size="2")), label,
                     disabled=(ListingState.quoting != "") | ListingState.busy | props.pop("disabled", False), **props)


def confirm_dialog() -> rx.Component:
    """The confirmation of a paid action: the quote's exact amount first, then what recurs or ends when."""
    view = ListingState.confirm
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(view.title),
            rx.alert_dialog.description(ListingState.name, size="2", color_scheme="gray"),
            rx.vstack(
                rx.cond(ListingState.confirm_note != "",
                        rx.callout(ListingState.confirm_note, icon="refresh-cw", color_scheme="amber", size="1",
                                   width="100%", id="confirm-note")),
                rx.text(view.headline, size="6", weight="bold", id="confirm-amount"),
                rx.foreach(view.lines, lambda line: rx.text(line, size="2")),
                spacing="2",
                width="100%",
                margin_top="0.75rem",
                id="confirm-details",
            ),
            rx.flex(
                rx.button("Go back", variant="soft", color_scheme="gray", on_click=ListingState.close_confirm(False),
                          disabled=ListingState.busy, id="confirm-back"),
                rx.button(rx.cond(ListingState.busy, rx.spinner(size="2")), view.button,
                          color_scheme=rx.cond(view.danger, "red", "indigo"), on_click=ListingState.confirm_action,
                          disabled=ListingState.busy, id="confirm-action"),
                gap="3",
                justify="end",
                wrap="wrap",
                margin_top="1.25rem",
            ),
            max_width="30rem",
            id="confirm-dialog",
        ),
        open=ListingState.confirm_open,
        on_open_change=ListingState.close_confirm,
    )


def contact_sales(tier: rx.Var[TierView]) -> rx.Component:
    """"Contact sales": who sells the tier, with a mail link about it (marked when the address is demo data)."""
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(tier.button, width="100%", variant="outline", data_tier=tier.name,
                                    class_name="contact-button")),
        rx.dialog.content(
            rx.dialog.title("Contact ", ListingState.sales_name),
            rx.dialog.description("The ", tier.name, " tier of ", ListingState.name, " is sold through the "
                                  "provider's sales team. Write to them with what you need; they answer by mail.",
                                  size="2"),
            rx.vstack(
                rx.cond(
                    ListingState.sales_email != "",
                    rx.link(rx.hstack(rx.icon("mail", size=16), rx.text(ListingState.sales_email), align="center",
                                      spacing="2"), href=tier.contact_href, id="sales-mailto", size="3"),
                    rx.text("This provider publishes no sales address here.", size="2", id="sales-none"),
                ),
                rx.cond(ListingState.sales_demo,
                        rx.callout("Demo data: this address is made up for the demo (an example.com address); "
                                   "mail to it reaches no one.", icon="info", color_scheme="amber", size="1",
                                   id="sales-demo")),
                rx.cond(ListingState.sales_website != "",
                        rx.link("The provider's website", href=ListingState.sales_website, is_external=True,
                                rel="noopener noreferrer", size="2")),
                spacing="3",
                margin_top="0.75rem",
                align="start",
            ),
            rx.flex(rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")), justify="end",
                    margin_top="1rem"),
            max_width="30rem",
            id="contact-dialog",
        ),
    )


def tier_button(tier: rx.Var[TierView]) -> rx.Component:
    return rx.match(
        tier.action,
        ("current", rx.button(tier.button, width="100%", variant="soft", disabled=True, data_tier=tier.name)),
        ("contact", contact_sales(tier)),
        _spinner_button(tier.button, "subscribe:" + tier.name, width="100%", data_tier=tier.name,
                        class_name="subscribe-button", on_click=ListingState.ask("subscribe", tier.name),
                        disabled=~ListingState.may_acquire),
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


def one_time_licence() -> rx.Component:
    """The one-time licence, where the listing sells one."""
    return rx.card(
        rx.hstack(
            rx.vstack(rx.heading("One-time licence", size="4"),
                      rx.text(ListingState.one_time_price, " once; nothing recurs.", size="2"), spacing="1"),
            rx.spacer(),
            rx.cond(ListingState.purchased,
                    rx.badge(rx.icon("check", size=12), "You hold this licence", color_scheme="green", size="2",
                             id="licence-bought"),
                    _spinner_button("Buy licence", "purchase", on_click=ListingState.ask("purchase", ""),
                                    disabled=~ListingState.may_acquire, id="buy-licence")),
            width="100%",
            align="center",
            wrap="wrap",
            spacing="3",
        ),
        width="100%",
        id="one-time-licence",
    )


STATE_ICONS = {"active": "circle-check", "cancelling": "calendar-clock", "ended": "circle-x"}


def subscription_summary(sub: rx.Var[SubscriptionView]) -> rx.Component:
    """The user's live subscription as what it is: active and renewing (green, with Cancel), or cancelled
    and active until its paid period ends (amber)."""
    return rx.callout.root(
        rx.callout.icon(rx.match(sub.status, *[(k, rx.icon(v)) for k, v in STATE_ICONS.items()], rx.icon("info"))),
        rx.callout.text(
            rx.hstack(
                rx.vstack(
                    rx.text(rx.text.strong(sub.state, id="subscription-state"), " · ", sub.tier, " tier (", sub.price,
                            ")", rx.cond(sub.demo, rx.badge("Demo data", color_scheme="gray", variant="outline",
                                                            margin_left="0.5rem"))),
                    rx.text(sub.usage, " · ", sub.period, size="2"),
                    spacing="1",
                ),
                rx.spacer(),
                rx.cond(sub.status == "active",
                        _spinner_button("Cancel subscription", "cancel", variant="soft", color_scheme="red", size="1",
                                        on_click=ListingState.ask("cancel", ""), id="cancel-subscription")),
                width="100%",
                align="center",
                wrap="wrap",
            ),
        ),
        color_scheme=rx.match(sub.status, ("active", "green"), ("cancelling", "amber"), "gray"),
        width="100%",
        id="current-subscription",
        data_tier=sub.tier,
        data_status=sub.status,
    )


def pricing() -> rx.Component:
    """Tier cards, the one-time licence, the user's subscription, and why they may not subscribe if the
    licence says so."""
    return rx.vstack(
        rx.foreach(ListingState.subscription, subscription_summary),
        rx.cond(~ListingState.may_acquire,
                rx.callout(ListingState.refusal, icon="shield-alert", color_scheme="amber", width="100%",
                           id="licence-refusal")),
        rx.cond(ListingState.tiers.length() == 0, empty_state("No pricing tiers", icon="receipt"),
                rx.grid(rx.foreach(ListingState.tiers, tier_card), columns=rx.breakpoints(initial="1", sm="2", lg="3"),
                        spacing="4", width="100%", id="tiers")),
        rx.cond(ListingState.one_time_price != "", one_time_licence()),
        rx.text(ListingState.billing_note, " Every charge is shown, with its exact amount, before you confirm it.",
                size="1", color_scheme="gray"),
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


def code_sample(title: str, code: rx.Var[str], sample_id: str) -> rx.Component:
    """A copyable code sample."""
    return rx.vstack(
        rx.hstack(
            rx.text(title, size="2", weight="bold"),
            rx.spacer(),
            rx.button(rx.icon("copy", size=14), "Copy", size="1", variant="ghost",
                      on_click=[rx.set_clipboard(code), rx.toast.info(f"{title} copied")], aria_label=f"Copy {title}"),
            width="100%",
            align="center",
        ),
        rx.el.pre(rx.el.code(code), id=sample_id, font_family="var(--code-font-family, monospace)",
                  font_size="0.8rem", line_height="1.5", padding="0.75rem", margin="0", width="100%",
                  overflow_x="auto", white_space="pre", border_radius="var(--radius-3)",
                  background_color=rx.color("gray", 3), box_sizing="border-box"),
        spacing="1",
        width="100%",
    )


def how_to_call() -> rx.Component:
    """How to call the model: a company model's endpoint with examples (or why there is none yet), or the
    provider's own way for an external model."""
    guide = ListingState.guide
    link = rx.cond(guide.link_href != "",
                   rx.link(guide.link_label, " →", href=guide.link_href, size="2", id="call-link",
                           target=rx.cond(guide.kind == "external", "_blank", "_self"), rel="noopener noreferrer"))
    return rx.card(
        rx.vstack(
            rx.heading("How to call it", size="4"),
            rx.text(guide.text, size="2", id="call-text"),
            rx.cond(
                guide.kind == "endpoint",
                rx.vstack(
                    rx.text("Endpoint: ", rx.code(guide.endpoints.join(", ")), size="2", id="call-endpoints"),
                    code_sample("curl", guide.curl, "example-curl"),
                    code_sample("Python", guide.python, "example-python"),
                    spacing="3",
                    width="100%",
                ),
            ),
            link,
            spacing="3",
            width="100%",
            align="start",
        ),
        width="100%",
        id="how-to-call",
        data_kind=guide.kind,
    )


def your_usage() -> rx.Component:
    """Requests used against the quota, requests per day ("No calls yet" when there are none), billing."""
    return rx.vstack(
        rx.cond(ListingState.usage_demo,
                rx.callout("Demo data: this subscription, its requests and its billing were generated by the demo "
                           "seed, not by real use.", icon="info", color_scheme="gray", size="1", width="100%",
                           id="usage-demo")),
        rx.cond(ListingState.usage_text != "",
                rx.vstack(rx.text(ListingState.usage_text, size="3", weight="medium", id="usage-text"),
                          rx.cond(ListingState.usage_metered, rx.progress(value=ListingState.usage_percent, max=100,
                                                                          width="100%")),
                          spacing="2", width="100%")),
        rx.heading("Your requests per day, last 30 days", size="3"),
        rx.cond(ListingState.has_calls,
                rx.box(chart(ListingState.usage_chart), width="100%", id="usage-chart"),
                rx.box(empty_state("No calls yet", "Requests you make to this model show here, per day.",
                                   icon="chart-no-axes-column"), width="100%", id="usage-empty")),
        rx.heading("Billing", size="3"),
        rx.cond(
            ListingState.billing.length() == 0,
            rx.text("Nothing billed yet.", size="2", color_scheme="gray"),
            rx.vstack(rx.foreach(ListingState.billing, lambda b: rx.hstack(
                rx.text(b.date, size="2", color_scheme="gray", min_width="6.5rem"),
                rx.text(b.description, size="2", flex="1", min_width="0"),
                rx.text(b.amount, size="2", weight="medium", color_scheme=rx.cond(b.credit, "green", "gray"),
                        class_name="billing-amount"),
                width="100%", align="center", padding_y="0.35rem",
                border_bottom=f"1px solid {rx.color('gray', 4)}", class_name="billing-row",
            )), spacing="0", width="100%", id="billing"),
        ),
        spacing="3",
        width="100%",
    )


def usage() -> rx.Component:
    """How to call the model, then your own use of it (subscribers and licence holders)."""
    return rx.vstack(
        how_to_call(),
        rx.cond(ListingState.subscribed | ListingState.purchased, your_usage(),
                rx.callout("Subscribe on the Pricing tab to get a request quota; your calls and billing then show here.",
                           icon="info", color_scheme="gray", width="100%", id="usage-subscribe")),
        spacing="5",
        width="100%",
    )


TABS = (("overview", "Overview", overview), ("pricing", "Pricing", pricing), ("licence", "Licence", licence),
        ("reviews", "Reviews", reviews), ("usage", "Usage", usage))


def tabs() -> rx.Component:
    return page_tabs(TABS, value=ListingState.tab, on_change=ListingState.choose_tab)


@protected_page(routes.MARKETPLACE_LISTING, "Model", on_load=[ListingState.load])
def listing() -> rx.Component:
    """A marketplace listing."""
    return rx.cond(
        ListingState.found,
        rx.vstack(header(), tabs(), confirm_dialog(), spacing="5", width="100%", min_width="0"),
        rx.cond(ListingState.loading, loading_rows(6, "2.5rem"),
                empty_state("This listing does not exist or you may not see it", icon="search-x")),
    )
