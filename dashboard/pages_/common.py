"""What the run, version, A/B test and experiment pages share: links, key/value tables,
signature and input-example tables, the description-and-tags form, artifact downloads."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import experiment_charts as xc
from dashboard import links, tables


def link_line(items: Iterable[tuple[str, str]], prefix: str = "") -> None:
    """Links on one line, opening in the same tab: (label, url) pairs."""
    html = " · ".join(links.anchor(label, url) for label, url in items)
    if html:
        st.markdown(f"{prefix}{html}", unsafe_allow_html=True)


def back_home() -> None:
    link_line([("← All tabs", links.HOME_URL)])


def key_values(values: Mapping[str, Any], key: str = "key", value: str = "value") -> None:
    """A mapping as a two-column table (NaN spelled out), or a caption when empty."""
    if not values:
        st.caption("None.")
        return
    frame = pd.DataFrame({key: list(values),
                          value: [str(xc.shown(v)) for v in values.values()]})
    tables.show(frame, hide_index=True, width="stretch")


def signature_frame(signature: Mapping[str, Any] | None) -> pd.DataFrame:
    """The input schema as rows (name, type, and any other field a column carries)."""
    columns = (signature or {}).get("inputs") or []
    return pd.DataFrame([dict(c) for c in columns if isinstance(c, Mapping)])


def example_frame(example: Any) -> pd.DataFrame:
    """An input example as rows: a list of records, one record, or a dataframe_split
    ({columns, data})."""
    if isinstance(example, Mapping) and "data" in example:
        inner = example.get("dataframe_split", example)
        return pd.DataFrame(inner.get("data") or [], columns=inner.get("columns"))
    if isinstance(example, Mapping) and "dataframe_split" in example:
        return example_frame(example["dataframe_split"])
    if isinstance(example, Mapping):
        return pd.DataFrame([example])
    if isinstance(example, list) and example and isinstance(example[0], Mapping):
        return pd.DataFrame(example)
    if isinstance(example, list):
        return pd.DataFrame(example)
    return pd.DataFrame()


def edit_form(key: str, description: str, tags: Mapping[str, str],
              save: Callable[[str, dict[str, str]], None], *, allowed: bool = True) -> None:
    """Description and tags in a form; `save(description, tags)` when submitted."""
    with st.form(key):
        text = st.text_area("Description", value=description, disabled=not allowed)
        edited = st.data_editor(
            pd.DataFrame({"key": list(tags), "value": [str(v) for v in tags.values()]},
                         columns=["key", "value"]),
            num_rows="dynamic", hide_index=True, width="stretch", key=f"{key}_tags",
            disabled=not allowed,
        )
        submitted = st.form_submit_button("Save description and tags", disabled=not allowed)
    if submitted:
        wanted = {str(row["key"]).strip(): "" if pd.isna(row["value"]) else str(row["value"])
                  for _, row in edited.iterrows()
                  if not pd.isna(row["key"]) and str(row["key"]).strip()}
        save(text, wanted)


def size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return ""


def download(label: str, opener: Callable[[], Any], file_name: str, key: str) -> None:
    """A download button that asks the API for the file only when clicked, reading its
    stream then (Streamlit serves the bytes it gets)."""
    def fetch() -> bytes:
        stream = opener()
        try:
            return stream.read()
        finally:
            stream.close()

    st.download_button(label, data=fetch, file_name=file_name, key=key,
                       mime="application/octet-stream", on_click="ignore")
