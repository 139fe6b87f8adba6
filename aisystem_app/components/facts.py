"""Labelled figures (a model's overview, a dataset's facts, a listing's specifications) as one data list."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx


@dataclass
class Fact:
    """One labelled figure, already worded."""

    label: str = ""
    value: str = ""


def fact_list(items: rx.Var[list[Fact]], **props) -> rx.Component:
    """The facts as label / value rows."""
    return rx.data_list.root(
        rx.foreach(items, lambda fact: rx.data_list.item(rx.data_list.label(fact.label), rx.data_list.value(fact.value))),
        **props,
    )
