"""One A/B test (?abtest=<id>): its results as the A/B Tests tab shows them, with links to
the champion's and the challenger's version pages."""

from __future__ import annotations

import streamlit as st

from axion_client import AxionAPIError
from dashboard import links
from dashboard.api import Registry
from dashboard.pages_ import common
from dashboard.tabs import abtests


def render(api: Registry, test_id: str) -> None:
    common.back_home()
    if not test_id.isdigit():
        st.error(f"An A/B test is named by its number: ?abtest=7, not {test_id!r}.")
        return
    try:
        results = api.abtest_results(int(test_id))
    except AxionAPIError as exc:
        if exc.status != 404:
            raise
        st.error(f"No A/B test #{test_id}.")
        return
    test = results["test"]
    color = abtests.STATE_COLORS.get(test["state"], "gray")
    st.header(f"A/B test #{test['id']}: {test['name']} :{color}-badge[{test['state']}]")
    common.link_line([
        (f"champion {test['model']} {test['champion']}",
         links.version_url(test["model"], test["champion"])),
        (f"challenger {test['model']} {test['challenger']}",
         links.version_url(test["model"], test["challenger"])),
    ], "Compares ")
    abtests.show_results(results, heading=False)
