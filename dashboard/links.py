"""Permalinks to the dashboard's pages, and the query parameters that name them.

    ?run=<run_id>                       one run
    ?model=<name>&version=<semver>      one version (version=#<n>: its sequence number)
    ?abtest=<id>                        one A/B test
    ?experiment=<id>                    one experiment
    (none)                              the tabs

The URLs are relative ("?run=..."), so they work behind any host and port. Names, semvers,
run ids and numbers are slugs, but every value is percent-encoded anyway.
"""

from __future__ import annotations

import html
import string
from collections.abc import Mapping

PAGE_KEYS = ("run", "version", "abtest", "experiment")
HOME_URL = "?"  # the tabs
_SAFE = frozenset(string.ascii_letters + string.digits + "-_.~")


def _encode(value: object) -> str:
    return "".join(ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode())
                   for ch in str(value))


def page_url(params: Mapping[str, object]) -> str:
    return "?" + "&".join(f"{k}={_encode(v)}" for k, v in params.items())


def run_url(run_id: str) -> str:
    return page_url({"run": run_id})


def version_url(model: str, version: str) -> str:
    return page_url({"model": model, "version": version})


def abtest_url(test_id: int) -> str:
    return page_url({"abtest": test_id})


def experiment_url(experiment_id: int) -> str:
    return page_url({"experiment": experiment_id})



def anchor(label: str, url: str) -> str:
    """An HTML link that opens in the same tab (st.markdown opens plain links in a new one);
    render with unsafe_allow_html=True: the label is escaped here."""
    return f'<a href="{html.escape(url)}" target="_self">{html.escape(label)}</a>'


def page_of(params: Mapping[str, str]) -> str | None:
    """Which page the query parameters name (the first of PAGE_KEYS present), else None."""
    return next((key for key in PAGE_KEYS if params.get(key)), None)
