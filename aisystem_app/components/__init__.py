"""Reusable UI pieces: page layout, tables, stat cards, charts, forms, badges and feedback states."""
