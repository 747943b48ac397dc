"""The Axion dashboard: streamlit run dashboard/app.py

Reads only the REST API: AXION_API_URL (default http://127.0.0.1:8000/api/v1) and
AXION_API_TOKEN. Four tabs: Model Registry, Experiments, A/B Tests, Deployment; a page for
one run, version, A/B test or experiment when the URL names one (dashboard/links.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # `streamlit run` puts dashboard/ on the path, not the project
    sys.path.insert(0, ROOT)

from axion_client import APIUnreachable, AxionAPIError  # noqa: E402
from dashboard import links  # noqa: E402
from dashboard.api import TTL_SECONDS, Registry, describe_error  # noqa: E402
from dashboard.pages_ import abtest, experiment, run, version  # noqa: E402
from dashboard.tabs import abtests, deployment, experiments, registry  # noqa: E402

TABS = [
    ("Model Registry", registry.render),
    ("Experiments", experiments.render),
    ("A/B Tests", abtests.render),
    ("Deployment", deployment.render),
]

st.set_page_config(page_title="Axion Model Registry", page_icon="📈", layout="wide")
api = Registry.from_env()

with st.sidebar:
    st.markdown("## Axion Model Registry")
    st.caption(f"API: {api.base_url}")
    st.caption(f"Reads are cached for {TTL_SECONDS} s.")
    if st.button("Refresh now"):
        st.cache_data.clear()

st.title("Axion Model Registry")
try:
    api.check()
except (APIUnreachable, AxionAPIError) as exc:
    st.error(describe_error(exc, api.base_url))
    st.stop()

PAGES = {
    "run": lambda params: run.render(api, params["run"]),
    "version": lambda params: version.render(api, params.get("model", ""), params["version"]),
    "abtest": lambda params: abtest.render(api, params["abtest"]),
    "experiment": lambda params: experiment.render(api, params["experiment"]),
}
page = links.page_of(st.query_params.to_dict())
if page is not None:
    try:
        PAGES[page](st.query_params.to_dict())
    except (APIUnreachable, AxionAPIError) as exc:
        st.error(describe_error(exc, api.base_url))
    st.stop()

for tab, (_, render) in zip(st.tabs([label for label, _ in TABS]), TABS, strict=True):
    with tab:
        try:
            render(api)
        except (APIUnreachable, AxionAPIError) as exc:
            st.error(describe_error(exc, api.base_url))
