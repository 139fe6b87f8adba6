"""/marketplace/search: search box, facet sidebar with counts, sort, the card grid and paging.

The URL carries the search (`?q=…&category=…&sort=…`), so a link to the page shares it.
"""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.data_table import pagination
from aisystem_app.components.feedback import empty_state, panel
from aisystem_app.components.filter_panel import collapsible_filters
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.components.listing_card import card_grid
from aisystem_app.pages.marketplace.landing import search_box
from aisystem_app.state.marketplace.browse import SORTS, FacetGroup, FacetOption, SearchState, SuggestionView


def facet_option(key: rx.Var[str], option: rx.Var[FacetOption]) -> rx.Component:
    """A facet value with its count; clicking adds or removes it."""
    return rx.el.label(
        rx.checkbox(checked=option.selected, on_change=SearchState.toggle(key, option.value),
                    aria_label=option.label),
        rx.text(option.label, size="2", flex="1", min_width="0", trim="both"),
        rx.text(option.count, size="1", color_scheme="gray", class_name="facet-count"),
        display="flex",
        align_items="center",
        gap="0.5rem",
        width="100%",
        cursor="pointer",
        padding_y="0.2rem",
        data_facet=key,
        data_value=option.value,
        data_selected=rx.cond(option.selected, "true", "false"),
        # Kept on an empty result: a value that would find nothing is dimmed (a chosen one stays clear).
        opacity=rx.cond((option.count == 0) & ~option.selected, "0.55", "1"),
    )


def facet_group(group: rx.Var[FacetGroup]) -> rx.Component:
    """One facet: its heading and values."""
    return rx.vstack(
        rx.text(group.title, size="1", weight="bold", color_scheme="gray", text_transform="uppercase",
                letter_spacing="0.05em"),
        rx.box(rx.foreach(group.options, lambda option: facet_option(group.key, option)),
               width="100%", max_height="15rem", overflow_y="auto"),
        spacing="1",
        width="100%",
    )


def sidebar() -> rx.Component:
    """The facets with their counts."""
    return rx.vstack(
        rx.hstack(rx.heading("Filters", size="3"), rx.spacer(),
                  rx.cond(SearchState.filtered, rx.button("Clear", variant="ghost", size="1",
                                                          on_click=SearchState.clear, id="clear-filters")),
                  width="100%", align="center"),
        rx.foreach(SearchState.groups, facet_group),
        spacing="4",
        width="100%",
        id="facets",
    )


def sort_select() -> rx.Component:
    """How the results are ordered."""
    return rx.select.root(
        rx.select.trigger(aria_label="Sort by", id="sort-select"),
        rx.select.content(*[rx.select.item(label, value=key) for key, label in SORTS.items()]),
        value=SearchState.sort,
        on_change=SearchState.change_sort,
        size="2",
    )


def suggestion(item: rx.Var[SuggestionView]) -> rx.Component:
    """One change that would find something, as a link, with how many models it finds."""
    return rx.hstack(
        rx.icon("corner-down-right", size=14, color=rx.color("gray", 10)),
        rx.link(item.text, href=item.href, size="2", class_name="suggestion"),
        rx.text(item.count, size="1", color_scheme="gray"),
        align="center",
        spacing="2",
    )


def no_results() -> rx.Component:
    """Nothing matches: say what was searched and offer the changes that would find something."""
    return rx.vstack(
        empty_state(SearchState.empty_title, "", icon="search-x"),
        rx.cond(
            SearchState.suggestions.length() > 0,
            rx.vstack(rx.text("Try instead:", size="2", weight="medium"),
                      rx.foreach(SearchState.suggestions, suggestion), spacing="2", align="start"),
            rx.text("Try other words, or fewer filters.", size="2", color_scheme="gray"),
        ),
        align="center",
        spacing="2",
        width="100%",
        padding_bottom="2rem",
        id="no-results",
    )


def results() -> rx.Component:
    """The count, sort, cards and pager."""
    return rx.vstack(
        rx.hstack(rx.text(SearchState.total_label, size="2", weight="medium", id="result-count",
                          custom_attrs={"data-query": SearchState.shown_query}), rx.spacer(),
                  sort_select(), width="100%", align="center"),
        panel(SearchState.loading, SearchState.cards, card_grid(SearchState.cards, grid_id="search-results"),
              no_results(),
              rows=4, height="8rem"),
        pagination(SearchState, "Previous", "Next", padding_top="0"),
        spacing="3",
        width="100%",
        min_width="0",
        opacity=rx.cond(SearchState.loading, "0.6", "1"),
    )


@protected_page(routes.MARKETPLACE_SEARCH, "Browse models", on_load=[SearchState.load])
def browse() -> rx.Component:
    """Search and filter the catalogue."""
    return rx.vstack(
        page_header("Search in your own words, by name, provider or tag, and narrow down with the filters.",
                    rx.link("Marketplace home", href=routes.MARKETPLACE, size="2")),
        # Keyed by the query so the box shows the URL's text after each navigation.
        rx.box(search_box(SearchState.submit_query, SearchState.query), key=SearchState.query, width="100%"),
        rx.grid(
            collapsible_filters(sidebar()),  # behind a "Filters" button on a phone: results come first
            results(),
            columns=rx.breakpoints(initial="1", md="15rem 1fr"),
            spacing="5",
            width="100%",
        ),
        spacing="4",
        width="100%",
    )
