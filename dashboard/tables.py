"""Every table of the dashboard goes through here, so a missing number reads the same
everywhere: a dash, not Streamlit's grey "None"."""

from __future__ import annotations

from typing import Any

import streamlit as st

MISSING = "—"


def show(data: Any, *, on: Any = st, **options: Any) -> None:
    """`data` as a table in `on` (the page, or a column or container of it)."""
    on.dataframe(data, placeholder=MISSING, **options)
